package redisproj

import (
	"context"
	"crypto/sha1"
	"encoding/hex"
	"errors"

	"github.com/redis/go-redis/v9"
)

// luaScript is a Lua script called by its SHA-1, loaded when Redis does
// not know it.
type luaScript struct {
	src, sha string
}

func newLuaScript(src string) *luaScript {
	h := sha1.Sum([]byte(src))
	return &luaScript{src: src, sha: hex.EncodeToString(h[:])}
}

// scriptCall is one EVALSHA of a pipeline.
type scriptCall struct {
	script *luaScript
	keys   []string
	args   []any
}

// run sends calls in one pipeline and returns each call's error. A call
// Redis answers with NOSCRIPT (its script cache is empty: a restart,
// SCRIPT FLUSH) is sent again after SCRIPT LOAD, and with EVAL if that is
// not enough. A call that failed wrote nothing (scripts check before they
// write), so sending one again is safe.
func (s *Sink) run(ctx context.Context, calls []scriptCall) []error {
	cmds := make([]*redis.Cmd, len(calls))
	pipe := s.rdb.Pipeline()
	for i, c := range calls {
		cmds[i] = pipe.EvalSha(ctx, c.script.sha, c.keys, c.args...)
	}
	_, _ = pipe.Exec(ctx) // errors are read per command below

	loaded := map[*luaScript]bool{}
	errs := make([]error, len(calls))
	for i, cmd := range cmds {
		err := cmd.Err()
		if isNoScript(err) {
			c := calls[i]
			if !loaded[c.script] {
				loaded[c.script] = true
				if err := s.rdb.ScriptLoad(ctx, c.script.src).Err(); err != nil {
					errs[i] = translate("load script", err)
					continue
				}
			}
			err = s.rdb.EvalSha(ctx, c.script.sha, c.keys, c.args...).Err()
			if isNoScript(err) {
				err = s.rdb.Eval(ctx, c.script.src, c.keys, c.args...).Err()
			}
		}
		if err != nil {
			errs[i] = translate("script on "+calls[i].keys[0], err)
		}
	}
	return errs
}

func isNoScript(err error) bool {
	return err != nil && (errors.Is(err, redis.ErrNoScript) || redis.HasErrorPrefix(err, "NOSCRIPT"))
}
