package emulator

import (
	"strings"
	"time"
)

// Dataverse follows Entra ID (docs/design.md, "Entra ID target"): "a background sync (about every
// 30 minutes) updates each person's record; the admin API's addUser adds or updates one person on
// demand. A person is enabled in Dataverse when sign-in is allowed, it is licensed (Administrative
// and NonInteractive users need none after setup) and it is a direct member of the environment's
// security group; leaving the group disables it and keeps its license."
//
// Only people in the tenant directory follow it; application users never do, and people given as
// an outcome (SetEntraUser) keep that outcome.

// knows: the object id is a person of the directory, or one deleted from it.
func (d *directory) knows(oid string) bool {
	oid = strings.ToLower(oid)
	return d.users[oid] != nil || d.deleted[oid]
}

// enabledInDataverse is EN1 as Dataverse applies it: sign-in allowed, a license or an access mode
// that needs none (1 Administrative, 4 Non-interactive), and, when the environment has a security
// group, direct membership of it (nested groups' members are not let in).
func (d *directory) enabledInDataverse(u *dirUser, accessMode int, securityGroup string) bool {
	licensed := d.licensed(u.id) || accessMode == 1 || accessMode == 4
	return u.enabled && licensed && (securityGroup == "" || d.directMember(securityGroup, u.id))
}

// personRecord is the systemusers record of a person (not an application user) with that object id.
func (env *environment) personRecord(oid string) record {
	for _, u := range env.sets["systemusers"] {
		if u.str("applicationid") == "" && strings.EqualFold(u.str("azureactivedirectoryobjectid"), oid) {
			return u
		}
	}
	return nil
}

// followDirectory brings one person's record in line with the directory: sign-in, licenses,
// security group and profile. With create (addUser), a person not in the environment yet arrives;
// a person deleted from the directory never does, and an existing record of one is disabled.
// A record is written (new version, new ETag) only when something changed.
func (e *Emulator) followDirectory(env *environment, oid string, now time.Time, create bool) {
	oid = strings.ToLower(oid)
	e.follow(env, oid, env.personRecord(oid), now, create)
}

// follow is followDirectory for a record already found (nil: none).
func (e *Emulator) follow(env *environment, oid string, rec record, now time.Time, create bool) {
	u := e.dir.users[oid]
	if u == nil {
		if rec != nil && (rec["isdisabled"] != true || rec["islicensed"] != false) {
			next := rec.clone()
			next["isdisabled"], next["islicensed"] = true, false
			env.put("systemusers", next, now)
		}
		return
	}
	if rec == nil && !create {
		return
	}
	first, last := u.givenName, u.surname
	full := strings.TrimSpace(first + " " + last)
	if full == "" {
		full = u.displayName
	}
	mode := 0
	if rec != nil {
		mode = rec.num("accessmode")
	}
	disabled := !e.dir.enabledInDataverse(u, mode, env.securityGroup)
	licensed := e.dir.licensed(u.id)
	if rec == nil {
		nu := env.userRecord(newGUID(), u.upn, full, oid, "", 0, disabled, env.rootBU)
		nu["firstname"], nu["lastname"], nu["islicensed"] = nullable(first), nullable(last), licensed
		nu["internalemailaddress"], nu["windowsliveid"] = u.upn, u.upn
		env.put("systemusers", nu, now)
		return
	}
	want := map[string]any{"domainname": u.upn, "fullname": full, "firstname": nullable(first), "lastname": nullable(last),
		"internalemailaddress": u.upn, "isdisabled": disabled, "islicensed": licensed}
	next := rec.clone()
	changed := false
	for k, v := range want {
		if next[k] != v {
			next[k], changed = v, true
		}
	}
	if changed {
		env.put("systemusers", next, now)
	}
}

// syncDirectory is one background sync: every person of the environment known to the directory.
func (e *Emulator) syncDirectory(env *environment, now time.Time) {
	var people []record
	for _, u := range env.sets["systemusers"] {
		if oid := u.str("azureactivedirectoryobjectid"); u.str("applicationid") == "" && oid != "" && e.dir.knows(oid) {
			people = append(people, u)
		}
	}
	for _, rec := range people {
		e.follow(env, strings.ToLower(rec.str("azureactivedirectoryobjectid")), rec, now, false)
	}
}

// backgroundSync runs the sync when Config.EntraSyncInterval has passed since the last one. It
// runs at the first request (or dump) after each interval's end, from the directory as it is
// then, so it needs no goroutine and follows a test's clock.
func (e *Emulator) backgroundSync(env *environment, now time.Time) {
	iv := e.cfg.EntraSyncInterval
	if iv <= 0 || now.Before(env.nextEntraSync) {
		return
	}
	e.syncDirectory(env, now)
	env.nextEntraSync = env.nextEntraSync.Add((now.Sub(env.nextEntraSync)/iv + 1) * iv)
}

// SyncEntra runs Dataverse's sync from Entra ID now, in one environment ("": every one): each
// person's record follows the directory at once, as at the end of a sync interval.
func (e *Emulator) SyncEntra(envName string) error {
	e.mu.Lock()
	defer e.mu.Unlock()
	now := e.cfg.Now()
	var envs []*environment
	if envName == "" {
		for _, env := range e.envs {
			envs = append(envs, env)
		}
	} else {
		env, err := e.env(envName)
		if err != nil {
			return err
		}
		envs = append(envs, env)
	}
	for _, env := range envs {
		e.syncEntra(env, now)
		e.syncDirectory(env, now)
	}
	return nil
}

// SetSecurityGroup names an environment's security group (a group object id; "" for none). The
// records follow at the next sync or addUser, not at once.
func (e *Emulator) SetSecurityGroup(envName, groupID string) error {
	e.mu.Lock()
	defer e.mu.Unlock()
	env, err := e.env(envName)
	if err != nil {
		return err
	}
	if groupID != "" && !guidRE.MatchString(groupID) {
		return envErr("the security group is a group's object id (a GUID)")
	}
	env.securityGroup = strings.ToLower(groupID)
	return nil
}
