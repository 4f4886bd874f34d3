package web

import (
	"errors"
	"net/http/httptest"
	"strings"
	"testing"
)

func TestValidateUsers(t *testing.T) {
	h1, h2 := HashToken("one"), HashToken("two")
	tests := []struct {
		name  string
		users []User
		index int
		field string // "" when valid
	}{
		{"none", nil, 0, ""},
		{"valid", []User{{"alice", RoleAgent, h1}, {"dpo@example.com", RoleAdmin, strings.ToUpper(h2)}}, 0, ""},
		{"empty name", []User{{"", RoleAgent, h1}}, 0, "name"},
		{"colon", []User{{"a:b", RoleAgent, h1}}, 0, "name"},
		{"space", []User{{"a b", RoleAgent, h1}}, 0, "name"},
		{"long name", []User{{strings.Repeat("a", MaxUserName+1), RoleAgent, h1}}, 0, "name"},
		{"twice", []User{{"alice", RoleAgent, h1}, {"alice", RoleAdmin, h2}}, 1, "name"},
		{"role", []User{{"alice", RoleAgent, h1}, {"bob", "boss", h2}}, 1, "role"},
		{"empty role", []User{{"alice", "", h1}}, 0, "role"},
		{"short hash", []User{{"alice", RoleAgent, h1[:63]}}, 0, "token_sha256"},
		{"not hex", []User{{"alice", RoleAgent, "g" + h1[1:]}}, 0, "token_sha256"},
		{"token itself", []User{{"alice", RoleAgent, "secret"}}, 0, "token_sha256"},
		{"same token", []User{{"alice", RoleAgent, h1}, {"bob", RoleAgent, h1}}, 1, "token_sha256"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := ValidateUsers(tt.users)
			if tt.field == "" {
				if err != nil {
					t.Fatalf("ValidateUsers = %v, want nil", err)
				}
				return
			}
			var ue *UserError
			if !errors.As(err, &ue) {
				t.Fatalf("ValidateUsers = %v, want a *UserError", err)
			}
			if ue.Index != tt.index || ue.Field != tt.field {
				t.Errorf("error at user %d field %s (%v), want user %d field %s", ue.Index, ue.Field, err, tt.index, tt.field)
			}
		})
	}
}

func TestNewToken(t *testing.T) {
	tok, hash := NewToken()
	tok2, _ := NewToken()
	if tok == tok2 {
		t.Fatal("two tokens are equal")
	}
	if len(tok) < 43 || hash != HashToken(tok) || len(hash) != 64 {
		t.Errorf("token %q hash %q", tok, hash)
	}
	if err := ValidateUsers([]User{{"a", RoleAgent, hash}}); err != nil {
		t.Errorf("NewToken's hash refused: %v", err)
	}
}

func TestAuthenticate(t *testing.T) {
	alice, bob := "alice-token", "bob-token"
	a, err := newAuthenticator([]User{
		{"alice", RoleAgent, HashToken(alice)},
		{"bob", RoleSupervisor, strings.ToUpper(HashToken(bob))},
	})
	if err != nil {
		t.Fatal(err)
	}
	basic := func(name, tok string) string {
		r := httptest.NewRequest("GET", "/", nil)
		r.SetBasicAuth(name, tok)
		return r.Header.Get("Authorization")
	}
	tests := []struct {
		name, header, want string // want: the user, "" for none
	}{
		{"bearer", "Bearer " + alice, "alice"},
		{"bearer case", "bearer " + bob, "bob"},
		{"bearer spaces", "Bearer   " + alice + " ", "alice"},
		{"basic", basic("bob", bob), "bob"},
		{"basic other's token", basic("alice", bob), ""},
		{"basic unknown name", basic("carol", alice), ""},
		{"wrong token", "Bearer " + alice + "x", ""},
		{"hash as token", "Bearer " + HashToken(alice), ""},
		{"empty bearer", "Bearer ", ""},
		{"no scheme", alice, ""},
		{"other scheme", "Digest " + alice, ""},
		{"none", "", ""},
		{"huge", "Bearer " + strings.Repeat("x", 100_000), ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := httptest.NewRequest("GET", "/api/recordings", nil)
			if tt.header != "" {
				r.Header.Set("Authorization", tt.header)
			}
			u := a.authenticate(r)
			got := ""
			if u != nil {
				got = u.Name
			}
			if got != tt.want {
				t.Errorf("user %q, want %q", got, tt.want)
			}
		})
	}
}

// A list with one bad user fails closed: nobody logs in, not even the
// valid users.
func TestBadUsersFailClosed(t *testing.T) {
	a, err := newAuthenticator([]User{{"alice", RoleAgent, HashToken("t")}, {"bob", "boss", HashToken("u")}})
	if err == nil {
		t.Fatal("no error for a bad role")
	}
	r := httptest.NewRequest("GET", "/", nil)
	r.Header.Set("Authorization", "Bearer t")
	if u := a.authenticate(r); u != nil {
		t.Errorf("%s logged in with a broken user list", u.Name)
	}
}
