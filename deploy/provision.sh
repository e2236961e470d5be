#!/bin/sh
# The plant's security for docker compose: made on the first `up`, kept on every later one.
#
# Run by the one-shot `provision` service (the tonle image, as root) before the broker
# starts. It makes, only if missing (`--keep-existing`; a revoked name stays revoked):
#   - the plant CA and the broker's certificate, for the names `mosquitto` (the other
#     containers) and TONLE_BROKER_HOST (what gateways on the LAN connect to);
#   - collector-1, analytics-1 and healthcheck (the mosquitto container's healthcheck);
#   - line-sim-1, the simulated line's gateway.
# Each key goes to the one user that reads it: the broker's folder (security/broker/, the
# only part the broker mounts) to mosquitto's uid 1883, the services' keys to the tonle
# image's uid 10001; the CA key and the healthcheck's key stay root's.
#
# Variables: TONLE_BROKER_HOST (required); SECURITY_DIR (default /etc/tonle/security,
# the bind mount of ./deploy/security); BROKER_OWNER (1883:1883); SERVICE_OWNER (10001:10001).
set -eu

: "${TONLE_BROKER_HOST:?set TONLE_BROKER_HOST in .env: the name or address gateways use to reach this server}"
dir="${SECURITY_DIR:-/etc/tonle/security}"
broker_owner="${BROKER_OWNER:-1883:1883}"
service_owner="${SERVICE_OWNER:-10001:10001}"

p() {
    tonle provision --dir "$dir" "$@"
}

p init --keep-existing --broker-host mosquitto --broker-host "$TONLE_BROKER_HOST" --broker-owner "$broker_owner"
p service collector-1 --role collector --keep-existing --owner "$service_owner"
p service analytics-1 --role analytics --keep-existing --owner "$service_owner"
p service healthcheck --role healthcheck --keep-existing
p gateway line-sim-1 --site demo-plant --area sewing --line L1 --keep-existing --owner "$service_owner"
echo "provision: the security folder is ready; after adding or revoking an identity, run: docker compose restart mosquitto"
