#!/usr/bin/env bash
# The quick start: `npm run deploy:local` deploys the `local` stack (Docker on this machine) and
# `npm run destroy:local` removes it again.
#
#   up       checks Node.js 20, Docker and the Pulumi CLI and names everything missing at once
#            (with how to get it) before doing anything; installs the dependencies when
#            package-lock.json changed since the last install; builds the local images whose
#            inputs changed (npm run images: there is no registry); logs in to the local Pulumi
#            backend when no backend is logged in; selects the stack `local` (creating it from
#            stacks/Pulumi.local.yaml the first time); runs `pulumi up --stack local --yes`.
#   destroy  `pulumi destroy --stack local --yes` (the stack and its history stay; `pulumi stack rm
#            local` removes them).
#   check    only the prerequisite checks.
#
# Exits 1 when a prerequisite is missing, with the list on stderr; otherwise with the exit code of
# the step that failed.
set -euo pipefail
cd "$(dirname "$0")/.."

STACK=local
action="${1:-up}"
case "$action" in
  up | destroy | check) ;;
  *)
    echo "usage: scripts/deploy-local.sh [up|destroy|check]" >&2
    exit 2
    ;;
esac

# How the user ran this, for messages.
case "$action" in
  up) command_name="npm run deploy:local" ;;
  destroy) command_name="npm run destroy:local" ;;
  check) command_name="scripts/deploy-local.sh check" ;;
esac
log() { printf '[%s] %s\n' "$command_name" "$*" >&2; }
die() {
  log "ERROR: $*"
  exit 1
}

# --- 1. prerequisites: collect everything that is missing, then report it all at once ------------
missing=()
if ! command -v node >/dev/null 2>&1; then
  missing+=("Node.js 20: the node command is not on PATH; install Node.js 20 with npm (https://nodejs.org/en/download, or your distribution's nodejs 20 package)")
elif [ "$(node -p 'process.versions.node.split(".")[0]')" != 20 ]; then
  missing+=("Node.js 20: found $(node --version) (package.json engines: >=20 <21; @pulumi/pulumi 3.248 is the last release for Node 20)")
fi
if ! command -v npm >/dev/null 2>&1; then
  missing+=("npm: the npm command is not on PATH; it comes with Node.js 20")
fi
if ! command -v docker >/dev/null 2>&1; then
  missing+=("Docker: the docker command is not on PATH; install Docker Engine (Debian: sudo bash scripts/setup-engines.sh installs docker.io and starts the daemon; elsewhere https://docs.docker.com/engine/install/)")
elif ! docker_err="$(docker info --format '{{.ServerVersion}}' 2>&1 >/dev/null)"; then
  missing+=("Docker: the docker command is installed but the daemon does not answer (docker info: $(printf '%s' "$docker_err" | tail -n 1)); start it (sudo systemctl start docker, or sudo bash scripts/setup-engines.sh) and make sure $(id -un) may use it (sudo usermod -aG docker $(id -un), then log in again)")
fi
if ! command -v pulumi >/dev/null 2>&1; then
  missing+=("Pulumi CLI: the pulumi command is not on PATH; install it with: curl -fsSL https://get.pulumi.com | sh (then add ~/.pulumi/bin to PATH), or see https://www.pulumi.com/docs/install/")
fi
if [ "${#missing[@]}" -gt 0 ]; then
  echo "$command_name cannot run; missing:" >&2
  for m in "${missing[@]}"; do echo "  - $m" >&2; done
  exit 1
fi
[ "$action" = check ] && {
  log "ready: node $(node --version), docker $(docker info --format '{{.ServerVersion}}'), $(pulumi version)"
  exit 0
}

# --- 2. a Pulumi backend, and the passphrase the local backend encrypts secrets with --------------
if ! pulumi whoami >/dev/null 2>&1; then
  log "no Pulumi backend logged in: pulumi login --local (state under ~/.pulumi)"
  pulumi login --local
fi
backend="$(pulumi whoami --verbose 2>/dev/null | sed -n 's/^Backend URL: *//p')"
if [[ "$backend" == file://* ]] && [ -z "${PULUMI_CONFIG_PASSPHRASE+set}" ] && [ -z "${PULUMI_CONFIG_PASSPHRASE_FILE:-}" ] && [ ! -t 0 ]; then
  die "the local backend ($backend) encrypts the stack's secrets with a passphrase and there is no terminal to ask for it: set PULUMI_CONFIG_PASSPHRASE or PULUMI_CONFIG_PASSPHRASE_FILE"
fi

if [ "$action" = destroy ]; then
  if ! pulumi stack select "$STACK" >/dev/null 2>&1; then
    log "no stack '$STACK' in $backend: nothing to destroy"
    exit 0
  fi
  log "pulumi destroy --stack $STACK --yes"
  pulumi destroy --stack "$STACK" --yes
  log "done: the resources are gone; the stack and its history stay (pulumi stack rm $STACK removes them)"
  exit 0
fi

# --- 3. dependencies and images ------------------------------------------------------------------
if [ ! -f node_modules/.package-lock.json ] || [ package-lock.json -nt node_modules/.package-lock.json ]; then
  log "installing dependencies: npm ci"
  npm ci --no-audit --no-fund
fi
if [ "$(id -u)" -ne 0 ] && ! docker image inspect scaleplane/debian:bookworm >/dev/null 2>&1; then
  die "the first image build creates the Debian base image with debootstrap, which needs root: run 'sudo npm run images' once, then npm run deploy:local again"
fi
log "building the local images whose inputs changed: npm run images"
npm run --silent images

# --- 4. the stack --------------------------------------------------------------------------------
log "selecting stack '$STACK' (created from stacks/Pulumi.$STACK.yaml the first time)"
pulumi stack select --create "$STACK"
log "pulumi up --stack $STACK --yes"
pulumi up --stack "$STACK" --yes
log "deployed. Outputs (pulumi stack output --stack $STACK):"
pulumi stack output --stack "$STACK"
