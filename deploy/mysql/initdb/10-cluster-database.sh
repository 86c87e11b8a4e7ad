# shellcheck shell=bash
# Sourced, not executed (keep this file non-executable), by the entrypoint
# of the mariadb image when it initialises an empty data volume, after it
# created MARIADB_DATABASE and MARIADB_USER. It creates the database of the
# compose profile "cluster" (CLUSTER_MYSQL_DATABASE), so that the instance
# on the NATS cluster keeps its history apart from the default stack's, and
# lets MARIADB_USER use it. docker_process_sql is the entrypoint's function
# that runs SQL from its standard input as root.
cluster_db="${CLUSTER_MYSQL_DATABASE:-thebutton_cluster}"
docker_process_sql <<EOSQL
CREATE DATABASE IF NOT EXISTS \`${cluster_db}\`;
GRANT ALL PRIVILEGES ON \`${cluster_db}\`.* TO '${MARIADB_USER}'@'%';
EOSQL
