// Package deploy owns the deployment files of the service and their tests:
// below this folder the Prometheus scrape configuration and alerting rules
// (prometheus/), the NATS server configurations of the compose stacks
// (nats/) and the MariaDB init script (mysql/); at the repository root
// compose.yaml, the Dockerfile, .dockerignore and .env.example. No Docker
// engine runs where the tests run, so the tests parse these files and
// check them against each other, against the metrics package and against
// the flags of cmd/thebutton.
//
// It has no code and nothing imports it; its tests import metrics and
// nats-server's configuration parser, never the service's other packages.
package deploy
