#!/bin/sh
# Creates the Redis Cluster of the compose profile "cluster" (3 masters,
# 3 replicas) the first time the stack starts; on later starts it finds the
# cluster made and exits 0. Run by the one-shot service redis-cluster-init
# with REDIS_CLUSTER_NODES="host:port host:port …" (six nodes).
#
# redis-cli --cluster create wants IP addresses (a node cannot CLUSTER MEET
# a host name), so the names are resolved here; the nodes announce their
# host names to clients (cluster-announce-hostname), so clients never see
# the containers' IPs.
set -eu

nodes=${REDIS_CLUSTER_NODES:?set REDIS_CLUSTER_NODES to the six nodes, host:port separated by spaces}
wait_for=${REDIS_CLUSTER_WAIT:-60}

info() { redis-cli -h "${1%:*}" -p "${1##*:}" cluster info 2>/dev/null | tr -d '\r'; }

for n in $nodes; do
	i=0
	until redis-cli -h "${n%:*}" -p "${n##*:}" ping >/dev/null 2>&1; do
		i=$((i + 1))
		if [ "$i" -ge "$wait_for" ]; then
			echo "redis-cluster-init: $n does not answer after ${wait_for}s" >&2
			exit 1
		fi
		sleep 1
	done
done

first=${nodes%% *}
assigned=$(info "$first" | sed -n 's/^cluster_slots_assigned://p')
case "$assigned" in
16384)
	echo "redis-cluster-init: the cluster exists ($(info "$first" | grep '^cluster_state:'))"
	exit 0
	;;
0 | "") ;;
*)
	echo "redis-cluster-init: $first has $assigned of 16384 slots: a half-made cluster, fix it by hand (redis-cli --cluster fix $first)" >&2
	exit 1
	;;
esac

addrs=
for n in $nodes; do
	host=${n%:*}
	ip=$(getent hosts "$host" | awk '{ print $1; exit }')
	if [ -z "$ip" ]; then
		echo "redis-cluster-init: cannot resolve $host" >&2
		exit 1
	fi
	addrs="$addrs $ip:${n##*:}"
done
echo "redis-cluster-init: creating the cluster on$addrs"
# shellcheck disable=SC2086 # one argument per node
redis-cli --cluster create $addrs --cluster-replicas 1 --cluster-yes

# Ready when the first node sees the slots covered and every replica
# following its master.
count=$(echo "$nodes" | wc -w)
replicas() { redis-cli -h "${first%:*}" -p "${first##*:}" cluster nodes 2>/dev/null | grep -c ' slave ' || true; }
i=0
until info "$first" | grep -q '^cluster_state:ok' && [ "$(replicas)" -eq $((count / 2)) ]; do
	i=$((i + 1))
	if [ "$i" -ge "$wait_for" ]; then
		echo "redis-cluster-init: the cluster is not ok after ${wait_for}s" >&2
		exit 1
	fi
	sleep 1
done
echo "redis-cluster-init: the cluster is ok"
