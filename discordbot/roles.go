package discordbot

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/bwmarrin/discordgo"

	"github.com/thebutton-game/thebutton/events"
)

// roleCacheFor is how long the ids of a guild's colour roles are trusted.
const roleCacheFor = 10 * time.Minute

// roleCache holds the ids of each guild's six colour roles.
type roleCache struct {
	mu     sync.Mutex
	guilds map[string]guildRoles
	// members holds, per guild and member, the roles the member is known
	// to hold: those its last interaction showed and those given since.
	members map[string]map[string]map[string]bool
	// blockedUntil is, per guild, until when role grants are not tried
	// because Discord refused one for a reason an admin must fix.
	blockedUntil map[string]time.Time
}

// maxKnownMembers bounds the members remembered per guild; beyond it the
// knowledge starts over (a grant then costs at most one request more).
const maxKnownMembers = 100000

// saw records the roles a member's interaction showed, keeping those
// given since (the interaction may predate them).
func (c *roleCache) saw(guild, user string, roles []string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	m := c.memberLocked(guild, user)
	for _, id := range roles {
		m[id] = true
	}
}

func (c *roleCache) memberLocked(guild, user string) map[string]bool {
	if c.members == nil {
		c.members = make(map[string]map[string]map[string]bool)
	}
	g := c.members[guild]
	if g == nil || len(g) >= maxKnownMembers {
		g = make(map[string]map[string]bool)
		c.members[guild] = g
	}
	m := g[user]
	if m == nil {
		m = make(map[string]bool)
		g[user] = m
	}
	return m
}

// holds reports whether a member is known to hold a role.
func (c *roleCache) holds(guild, user, role string) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.members[guild][user][role]
}

// granted records a role given to a member.
func (c *roleCache) granted(guild, user, role string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.memberLocked(guild, user)[role] = true
}

// block stops role grants in a guild for problemCacheFor after a refusal
// an admin must fix.
func (c *roleCache) block(guild string, err error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.blockedUntil == nil {
		c.blockedUntil = make(map[string]time.Time)
	}
	c.blockedUntil[guild] = time.Now().Add(problemCacheFor)
}

// blocked reports whether role grants in a guild are stopped, and until
// when.
func (c *roleCache) blocked(guild string) (time.Time, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	until, ok := c.blockedUntil[guild]
	return until, ok && time.Now().Before(until)
}

type guildRoles struct {
	ids [6]string
	err error // why some role is missing (a refusal an admin must fix)
	at  time.Time
}

// problemCacheFor is how long a refusal to create roles is remembered, so
// that clicks do not ask Discord again and again meanwhile.
const problemCacheFor = time.Minute

func (c *roleCache) get(guild string) ([6]string, error, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	g, ok := c.guilds[guild]
	limit := roleCacheFor
	if g.err != nil {
		limit = problemCacheFor
	}
	if !ok || time.Since(g.at) > limit {
		return [6]string{}, nil, false
	}
	return g.ids, g.err, true
}

func (c *roleCache) put(guild string, ids [6]string, err error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.guilds == nil {
		c.guilds = make(map[string]guildRoles)
	}
	c.guilds[guild] = guildRoles{ids: ids, err: err, at: time.Now()}
}

func (c *roleCache) forget(guild string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	delete(c.guilds, guild)
}

// errRoles wraps the problems met while setting up the colour roles.
var errRoles = errors.New("colour roles")

// ensureRoles makes sure the six colour roles exist in guild, creating the
// missing ones and, when recolor is set, giving the existing ones their
// colour (GAME-RULES §6). It returns the ids it has. Refusals an admin can
// fix come back joined in a permanent error wrapping errRoles and the
// *APIError; transient failures stop it and are returned as they are.
func (b *Bot) ensureRoles(ctx context.Context, guild string, recolor bool) ([6]string, error) {
	var ids [6]string
	roles, err := b.rest.roles(ctx, guild)
	if err != nil {
		return ids, err
	}
	byName := make(map[string]*discordgo.Role)
	for _, r := range roles {
		if r.Managed {
			continue
		}
		if old, ok := byName[r.Name]; !ok || r.Position < old.Position {
			byName[r.Name] = r
		}
	}
	var problems []error
	for _, band := range events.Bands {
		color := band.RGB()
		if r, ok := byName[band.String()]; ok {
			ids[band] = r.ID
			if recolor && r.Color != color {
				err := b.rest.editRole(ctx, guild, r.ID, &discordgo.RoleParams{Color: &color})
				if err != nil && !permanent(err) {
					return ids, err
				}
				if err != nil {
					problems = append(problems, fmt.Errorf("recolour role %s: %w", band, err))
				}
			}
			continue
		}
		none, no := int64(0), false
		r, err := b.rest.createRole(ctx, guild, &discordgo.RoleParams{Name: band.String(), Color: &color,
			Permissions: &none, Hoist: &no, Mentionable: &no})
		if err != nil && !permanent(err) {
			return ids, err
		}
		if err != nil {
			problems = append(problems, fmt.Errorf("create role %s: %w", band, err))
			continue
		}
		ids[band] = r.ID
	}
	var problem error
	if len(problems) > 0 {
		problem = fmt.Errorf("%w: %w", errRoles, errors.Join(problems...))
	}
	b.roles.put(guild, ids, problem)
	return ids, problem
}

// roleIDs returns the ids of a guild's colour roles, setting them up
// when they are not known; the id of band is set when err is nil. A
// refusal of a moment ago is returned without asking Discord again.
func (b *Bot) roleIDs(ctx context.Context, guild string, band events.Band) ([6]string, error) {
	ids, problem, ok := b.roles.get(guild)
	if ok && ids[band] != "" {
		return ids, nil
	}
	if ok && problem != nil {
		return ids, problem // refused a moment ago: the admin has been told
	}
	ids, err := b.ensureRoles(ctx, guild, false)
	if ids[band] != "" {
		return ids, nil
	}
	if err == nil {
		err = fmt.Errorf("%w: role %s not set up", errRoles, band)
	}
	return ids, err
}

// rolesHelp is what an admin is told when roles cannot be managed.
func rolesHelp(err error) string {
	return fmt.Sprintf("I could not manage the colour roles in this server (%s). "+
		"Give The Button the **Manage Roles** permission and drag its role **above** the six colour roles "+
		"(Red, Orange, Yellow, Green, Blue, Purple) in Server Settings → Roles. The game itself is not affected.", describe(err))
}
