package web

import (
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"encoding/hex"
	"fmt"
	"net/http"
	"strings"
)

// Role is what a user of the API may do.
type Role string

// Roles. Every endpoint that shows or changes personal data wants a user.
// An admin does everything (legal holds, the access audit, the purge log
// included); a supervisor reads the call log, the queues, the callbacks and
// every recording, and follows and sets the agents; an agent works at the
// desk and reaches only what concerns it: the calls and recordings of the
// contacts it took, the queues it serves. An integration is a program, not
// a person: a channel (chat, email) posting its contacts to the queues; it
// reads nothing but the queues' summary.
const (
	RoleAdmin       Role = "admin"
	RoleSupervisor  Role = "supervisor"
	RoleAgent       Role = "agent"
	RoleIntegration Role = "integration"
)

// Valid reports whether r is a known role.
func (r Role) Valid() bool {
	switch r {
	case RoleAdmin, RoleSupervisor, RoleAgent, RoleIntegration:
		return true
	}
	return false
}

// User is an account of the API. Only the SHA-256 of its token is kept, so
// a leaked configuration does not leak the tokens.
type User struct {
	Name string
	Role Role
	// TokenSHA256 is the hex SHA-256 of the user's token (HashToken).
	TokenSHA256 string
}

// MaxUserName bounds a user name; names go into audit rows and contacts.
const MaxUserName = 64

// maxToken bounds what is hashed from a request's Authorization header.
const maxToken = 512

// UserError says which user of a list is wrong, and why.
type UserError struct {
	Index  int    // position in the list, from 0
	Field  string // name, role or token_sha256
	Reason string
}

func (e *UserError) Error() string {
	return fmt.Sprintf("user %d: %s: %s", e.Index, e.Field, e.Reason)
}

// ValidUserName reports whether s can name a user: 1 to MaxUserName
// letters, digits, '.', '_', '-' or '@'. A colon is refused because HTTP
// Basic authentication splits name and token on it.
func ValidUserName(s string) bool {
	if s == "" || len(s) > MaxUserName {
		return false
	}
	for _, c := range s {
		switch {
		case c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z', c >= '0' && c <= '9',
			c == '.', c == '_', c == '-', c == '@':
		default:
			return false
		}
	}
	return true
}

// ValidateUsers checks a list of users: valid and unique names, known
// roles, and distinct tokens given as 64 hex digits. The error is a
// *UserError.
func ValidateUsers(users []User) error {
	names := make(map[string]bool, len(users))
	hashes := make(map[[sha256.Size]byte]bool, len(users))
	for i, u := range users {
		if !ValidUserName(u.Name) {
			return &UserError{i, "name", fmt.Sprintf("%q: want 1 to %d letters, digits, '.', '_', '-' or '@'", u.Name, MaxUserName)}
		}
		if names[u.Name] {
			return &UserError{i, "name", fmt.Sprintf("%q is given twice", u.Name)}
		}
		names[u.Name] = true
		if !u.Role.Valid() {
			return &UserError{i, "role", fmt.Sprintf("%q is not one of admin, supervisor, agent, integration", u.Role)}
		}
		h, ok := parseTokenHash(u.TokenSHA256)
		if !ok {
			return &UserError{i, "token_sha256", "want the 64 hex digits of the token's SHA-256 (ivrd token NAME ROLE prints it)"}
		}
		if hashes[h] {
			return &UserError{i, "token_sha256", "same token as another user"}
		}
		hashes[h] = true
	}
	return nil
}

func parseTokenHash(s string) ([sha256.Size]byte, bool) {
	var h [sha256.Size]byte
	if len(s) != 2*sha256.Size {
		return h, false
	}
	if _, err := hex.Decode(h[:], []byte(s)); err != nil {
		return h, false
	}
	return h, true
}

// NewToken returns a new random token (256 bits, base64url) and its
// HashToken, the value for the configuration.
func NewToken() (token, sha256Hex string) {
	var b [32]byte
	_, _ = rand.Read(b[:]) // never fails
	token = base64.RawURLEncoding.EncodeToString(b[:])
	return token, HashToken(token)
}

// HashToken returns the lowercase hex SHA-256 of token.
func HashToken(token string) string {
	h := sha256.Sum256([]byte(token))
	return hex.EncodeToString(h[:])
}

// authenticator finds the user of a request.
type authenticator struct {
	users []authUser
}

type authUser struct {
	User
	hash [sha256.Size]byte
}

// newAuthenticator checks users. When one is invalid, nobody can log in:
// a broken list fails closed.
func newAuthenticator(users []User) (*authenticator, error) {
	if err := ValidateUsers(users); err != nil {
		return &authenticator{}, err
	}
	a := &authenticator{users: make([]authUser, len(users))}
	for i, u := range users {
		h, _ := parseTokenHash(u.TokenSHA256)
		a.users[i] = authUser{User: u, hash: h}
	}
	return a, nil
}

// authenticate returns the user whose token the request carries, as
// "Authorization: Bearer <token>" or HTTP Basic "<name>:<token>", or nil.
// Every user's hash is compared, in constant time, whether or not an
// earlier one matched: the time taken says nothing about the tokens.
func (a *authenticator) authenticate(r *http.Request) *User {
	if a == nil || len(a.users) == 0 {
		return nil
	}
	token, name, basic := credentials(r)
	if token == "" || len(token) > maxToken {
		return nil
	}
	h := sha256.Sum256([]byte(token))
	found := -1
	for i := range a.users {
		u := &a.users[i]
		ok := subtle.ConstantTimeCompare(h[:], u.hash[:])
		if basic {
			ok &= subtle.ConstantTimeCompare([]byte(name), []byte(u.Name))
		}
		if ok == 1 {
			found = i
		}
	}
	if found < 0 {
		return nil
	}
	u := a.users[found].User
	return &u
}

// credentials reads the token (and, for Basic, the name) of a request.
func credentials(r *http.Request) (token, name string, basic bool) {
	h := r.Header.Get("Authorization")
	scheme, rest, ok := strings.Cut(h, " ")
	if !ok {
		return "", "", false
	}
	if strings.EqualFold(scheme, "Bearer") {
		return strings.TrimSpace(rest), "", false
	}
	if name, token, ok := r.BasicAuth(); ok {
		return token, name, true
	}
	return "", "", false
}

// challenge is the WWW-Authenticate header of a 401.
const challenge = `Bearer realm="ivrd", Basic realm="ivrd", charset="UTF-8"`
