package main

import (
	"context"
	"fmt"
	"net/url"
	"strings"

	"github.com/redis/go-redis/v9"
)

// Redis URLs. REDIS_URL is either one Redis,
//
//	redis://[user:password@]host:port/db   (rediss:// for TLS)
//
// or a Redis Cluster, given by any of its nodes (the client discovers the
// others and follows failovers):
//
//	redis+cluster://[user:password@]host1:port,host2:port,…[?option=value]
//
// (rediss+cluster:// for TLS). A cluster has only database 0, so its URL
// has no path. Options are go-redis's cluster URL options (dial_timeout,
// read_timeout, pool_size, …).
const (
	schemeCluster    = "redis+cluster"
	schemeClusterTLS = "rediss+cluster"
)

// openRedis returns a client for REDIS_URL: a *redis.Client for one Redis,
// a *redis.ClusterClient for a cluster. It does not wait for Redis: the
// projector retries until Redis answers.
func openRedis(rawURL string) (redis.UniversalClient, error) {
	opts, err := parseClusterURL(rawURL)
	if err != nil {
		return nil, err
	}
	if opts != nil {
		return redis.NewClusterClient(opts), nil
	}
	o, err := redis.ParseURL(rawURL)
	if err != nil {
		return nil, fmt.Errorf("REDIS_URL: %w", err)
	}
	return redis.NewClient(o), nil
}

// checkRedisURL reports whether REDIS_URL names one Redis or a cluster
// in a form openRedis accepts.
func checkRedisURL(rawURL string) error {
	if opts, err := parseClusterURL(rawURL); err != nil || opts != nil {
		return err
	}
	u, err := url.Parse(rawURL)
	if err != nil || (u.Scheme != "redis" && u.Scheme != "rediss") {
		return fmt.Errorf("REDIS_URL: %q is not a redis://, rediss:// or redis+cluster:// URL", redactURL(rawURL))
	}
	if _, err := redis.ParseURL(rawURL); err != nil {
		return fmt.Errorf("REDIS_URL: %w", err)
	}
	return nil
}

// parseClusterURL returns the cluster options of a redis+cluster:// URL,
// nil options for any other scheme.
func parseClusterURL(rawURL string) (*redis.ClusterOptions, error) {
	scheme, rest, ok := strings.Cut(rawURL, "://")
	if !ok || (scheme != schemeCluster && scheme != schemeClusterTLS) {
		return nil, nil
	}
	bad := func(why string) error {
		return fmt.Errorf("REDIS_URL: %q is not a Redis Cluster URL: %s", redactURL(rawURL), why)
	}
	// Split authority from path and query ourselves: url.Parse refuses a
	// host list.
	authority, tail := rest, ""
	if i := strings.IndexAny(rest, "/?#"); i >= 0 {
		authority, tail = rest[:i], rest[i:]
	}
	userinfo, hostList := "", authority
	if i := strings.LastIndex(authority, "@"); i >= 0 {
		userinfo, hostList = authority[:i+1], authority[i+1:]
	}
	var hosts []string
	for h := range strings.SplitSeq(hostList, ",") {
		if h = strings.TrimSpace(h); h == "" {
			return nil, bad("empty node address")
		}
		hosts = append(hosts, h)
	}
	base := strings.TrimSuffix(scheme, "+cluster") + "://" + userinfo + hosts[0] + tail
	u, err := url.Parse(base)
	if err != nil {
		return nil, bad(err.Error())
	}
	if u.Path != "" && u.Path != "/" && u.Path != "/0" {
		return nil, bad("a cluster has only database 0; leave the path out")
	}
	u.Path = ""
	if u.Fragment != "" {
		return nil, bad("no #fragment allowed")
	}
	q := u.Query()
	for _, h := range hosts[1:] {
		q.Add("addr", h)
	}
	u.RawQuery = q.Encode()
	opts, err := redis.ParseClusterURL(u.String())
	if err != nil {
		return nil, bad(err.Error())
	}
	for _, a := range opts.Addrs {
		if strings.HasPrefix(a, ":") || strings.HasSuffix(a, ":") {
			return nil, bad("node " + a + " needs a host and a port")
		}
	}
	return opts, nil
}

// redactURL hides a password in a Redis URL for messages.
func redactURL(rawURL string) string {
	scheme, rest, ok := strings.Cut(rawURL, "://")
	if !ok {
		return rawURL
	}
	at := strings.LastIndex(rest, "@")
	if at < 0 {
		return rawURL
	}
	user := rest[:at]
	if i := strings.Index(user, ":"); i >= 0 {
		user = user[:i] + ":xxxxx"
	}
	return scheme + "://" + user + rest[at:]
}

// redisAddr describes where a client connects, for messages.
func redisAddr(rdb redis.UniversalClient) string {
	switch c := rdb.(type) {
	case *redis.Client:
		return c.Options().Addr
	case *redis.ClusterClient:
		return "cluster " + strings.Join(c.Options().Addrs, ",")
	}
	return "redis"
}

// forEachRedisNode calls fn on every node that holds data: each master of
// a cluster, or the one Redis. SCAN must go through it, since on a cluster
// it sees only the node it is sent to.
func forEachRedisNode(ctx context.Context, rdb redis.UniversalClient, fn func(ctx context.Context, c redis.UniversalClient) error) error {
	if c, ok := rdb.(*redis.ClusterClient); ok {
		return c.ForEachMaster(ctx, func(ctx context.Context, m *redis.Client) error { return fn(ctx, m) })
	}
	return fn(ctx, rdb)
}
