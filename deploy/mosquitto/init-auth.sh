#!/bin/sh
# Build the broker's password file (and a private copy of the ACL) from environment
# variables, so `docker compose up` works after filling only .env.
#
# Runs in the eclipse-mosquitto image as the one-shot `mosquitto-init` service,
# before the broker starts, on every `up`: change a password in .env, run
# `docker compose up -d` again, and the broker gets the new one. Passwords are
# hashed with `mosquitto_passwd -U` from a temporary file, so they never appear
# on a command line (and in `ps`).
#
# Variables: MQTT_AGENT_PASSWORD, MQTT_COLLECTOR_PASSWORD, MQTT_ANALYTICS_PASSWORD,
# MQTT_OPERATOR_PASSWORD (required); AUTH_DIR (default /mosquitto/auth);
# ACL_SRC (default: the `acl` file next to this script).
set -eu

AUTH_DIR="${AUTH_DIR:-/mosquitto/auth}"
ACL_SRC="${ACL_SRC:-$(dirname "$0")/acl}"
MOSQUITTO_UID="${MOSQUITTO_UID:-1883}"
MOSQUITTO_GID="${MOSQUITTO_GID:-1883}"

fail() {
    echo "mosquitto-init: $*" >&2
    exit 1
}

[ -r "$ACL_SRC" ] || fail "cannot read the ACL file $ACL_SRC"
umask 077
mkdir -p "$AUTH_DIR"
plain="$AUTH_DIR/.passwd.plain"
trap 'rm -f "$plain"' EXIT
: > "$plain"

add_user() {
    user="$1"
    var="$2"
    eval "pass=\${$var:-}"
    [ -n "$pass" ] || fail "$var is empty or not set; set it in .env (see deploy/.env.example)"
    # mosquitto_passwd -U splits each line at its first colons: a colon would
    # silently cut the password short.
    case "$pass" in
        *:*) fail "$var contains ':', which mosquitto_passwd cannot take; use e.g. openssl rand -hex 24" ;;
        *"
"*) fail "$var contains a newline" ;;
    esac
    printf '%s:%s\n' "$user" "$pass" >> "$plain"
}

add_user agent MQTT_AGENT_PASSWORD
add_user collector MQTT_COLLECTOR_PASSWORD
add_user analytics MQTT_ANALYTICS_PASSWORD
add_user operator MQTT_OPERATOR_PASSWORD

# The healthcheck user gets a fresh random password on every start; only root in
# the broker container (the healthcheck) can read it.
healthcheck_pw="$(head -c 24 /dev/urandom | od -An -tx1 | tr -d ' \n')"
printf 'healthcheck:%s\n' "$healthcheck_pw" >> "$plain"

mosquitto_passwd -U "$plain" || fail "mosquitto_passwd could not hash the passwords"
mv "$plain" "$AUTH_DIR/passwd"
printf '%s\n' "$healthcheck_pw" > "$AUTH_DIR/healthcheck.pw"
cp "$ACL_SRC" "$AUTH_DIR/acl.new"
mv "$AUTH_DIR/acl.new" "$AUTH_DIR/acl"
chmod 0700 "$AUTH_DIR"
chmod 0600 "$AUTH_DIR/passwd" "$AUTH_DIR/acl" "$AUTH_DIR/healthcheck.pw"
if [ "$(id -u)" = 0 ]; then
    chown "$MOSQUITTO_UID:$MOSQUITTO_GID" "$AUTH_DIR" "$AUTH_DIR/passwd" "$AUTH_DIR/acl" \
        "$AUTH_DIR/healthcheck.pw"
fi
echo "mosquitto-init: wrote $AUTH_DIR/passwd (agent, collector, analytics, operator, healthcheck)"
