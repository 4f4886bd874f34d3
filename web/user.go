package web

import (
	"fmt"
	"net/http"
	"slices"
)

// authorize finds the user of a request to the API (the recordings
// endpoints apart, which audit: see begin) and checks its role against
// roles (any role when empty). When it reports false the answer is
// written: 401 without a valid token, 429 past the failed-authentication
// limit, 403 for a role that may not. These endpoints touch no recording,
// so nothing is audited.
func (s *Server) authorize(w http.ResponseWriter, r *http.Request, roles ...Role) (*User, bool) {
	u := s.auth.authenticate(r)
	if u == nil {
		if s.fails.fail(r.RemoteAddr) == failAudit {
			w.Header().Set("WWW-Authenticate", challenge)
			s.writeError(w, r, http.StatusUnauthorized, "authentication required")
		} else {
			s.tooMany(w, r)
		}
		return nil, false
	}
	if len(roles) > 0 && !slices.Contains(roles, u.Role) {
		s.writeError(w, r, http.StatusForbidden, fmt.Sprintf("%s %s: not allowed to role %s", r.Method, r.URL.Path, u.Role))
		return nil, false
	}
	return u, true
}

// Who may reach an endpoint, by role.
var (
	// supervising are the roles that see every agent and act for them,
	// and read the call log and the queues whole.
	supervising = []Role{RoleSupervisor, RoleAdmin}
	// staff are the people: every role but integration, which is a
	// program posting contacts.
	staff = []Role{RoleAdmin, RoleSupervisor, RoleAgent}
	// posting are the roles that put chats and emails in the queues.
	posting = []Role{RoleIntegration, RoleSupervisor, RoleAdmin}
)

// mayActFor reports whether u may act for the agent named agent: itself,
// or anyone for a supervisor or an admin.
func mayActFor(u *User, agent string) bool {
	return agent == u.Name || u.Role == RoleSupervisor || u.Role == RoleAdmin
}
