// Package deploy holds the checks of the production deployment files (docker-compose.yml,
// Dockerfile) that cannot run here: no Docker engine exists on the development machines.
package deploy
