#!/usr/bin/env bash
# The quick start: `npm run deploy:local` deploys the `local` stack (Docker on this machine) and
# `npm run destroy:local` removes it again.
#
#   up       checks Node.js 20, Docker and the Pulumi CLI and names everything missing at once
#            (with how to get it) before doing anything else. The CLI is a `pulumi` on PATH at
#            least as new as the SDK pin, else the pinned npm launcher node_modules/.bin/pulumi,
#            which downloads the CLI on first use (a fresh clone first runs npm ci for it; without
#            network the message says so and what to do). Then it installs the dependencies when
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
sudo=""
[ "$(id -u)" -ne 0 ] && sudo="sudo "
if ! command -v node >/dev/null 2>&1; then
  missing+=("Node.js 20: the node command is not on PATH; install Node.js 20 with npm (https://nodejs.org/en/download, or your distribution's nodejs 20 package)")
elif [ "$(node -p 'process.versions.node.split(".")[0]')" != 20 ]; then
  missing+=("Node.js 20: found $(node --version) (package.json engines: >=20 <21; @pulumi/pulumi 3.248 is the last release for Node 20)")
fi
if ! command -v npm >/dev/null 2>&1; then
  missing+=("npm: the npm command is not on PATH; it comes with Node.js 20")
fi
if ! command -v docker >/dev/null 2>&1; then
  missing+=("Docker: the docker command is not on PATH; install Docker Engine (Debian: ${sudo}bash scripts/setup-engines.sh installs docker.io and starts the daemon; elsewhere https://docs.docker.com/engine/install/)")
elif ! docker_err="$(docker info --format '{{.ServerVersion}}' 2>&1 >/dev/null)"; then
  docker_err="$(printf '%s' "$docker_err" | tail -n 1)"
  if [ -n "$sudo" ] && [[ "$docker_err" == *"permission denied"* ]]; then
    # Only a non-root user needs the docker group; root may always use the socket.
    user="$(id -un)"
    missing+=("Docker: the daemon's socket refuses user $user (docker info: $docker_err); add $user to the docker group (sudo usermod -aG docker $user, then log in again) or run as root")
  else
    missing+=("Docker: the docker command is installed but the daemon does not answer (docker info: $docker_err); start it (${sudo}systemctl start docker, or ${sudo}bash scripts/setup-engines.sh)")
  fi
fi

# The Pulumi CLI. The project pins two versions in package.json:
#  - the SDK, @pulumi/pulumi ($sdk_pin). "New enough" for a CLI is what that SDK's own Automation
#    API demands of a CLI it is given (PulumiCommand.get/install): the same major version and at
#    least the SDK's version. An older CLI may lack engine features the SDK asks for.
#  - the npm package `pulumi` ($launcher_pin, a devDependency): Pulumi's launcher, not the CLI. Its
#    node_modules/.bin/pulumi runs the CLI of exactly its own version from
#    ${PULUMI_HOME:-~/.pulumi}/versions/<version>/bin, and on first use downloads it there by
#    running https://get.pulumi.com/install.sh (which fetches the release archive from
#    get.pulumi.com). The npm registry has no 3.248.0 of it; 3.250.0 is the oldest release at least
#    as new as the SDK.
# A pulumi on PATH that is new enough wins (the user's own CLI, with its plugins and login);
# otherwise the launcher is used, and the download happens here, before anything else changes.

# The version a package.json ($2, default ./package.json) gives key $1 (a sed pattern).
pin() { sed -n "s/^ *\"$1\": *\"\\([^\"]*\\)\".*/\\1/p" "${2:-package.json}" | head -n 1; }
sdk_pin="$(pin '@pulumi\/pulumi')"
launcher_pin="$(pin pulumi)"
launcher=node_modules/.bin/pulumi
pulumi_home="${PULUMI_HOME:-$HOME/.pulumi}"
launcher_root="$pulumi_home/versions/$launcher_pin"

# 0 when $1 (`pulumi version` output, e.g. v3.250.0) is major 3 and >= $sdk_pin.
new_enough() {
  local re='^v?([0-9]+)\.([0-9]+)\.([0-9]+)(-[^ ]*)?$' a b
  [[ "$1" =~ $re ]] || return 1
  a=("${BASH_REMATCH[1]}" "${BASH_REMATCH[2]}" "${BASH_REMATCH[3]}" "${BASH_REMATCH[4]}")
  [[ "$sdk_pin" =~ $re ]] || return 1
  b=("${BASH_REMATCH[1]}" "${BASH_REMATCH[2]}" "${BASH_REMATCH[3]}")
  [ "${a[0]}" -eq "${b[0]}" ] || return 1
  [ "${a[1]}" -ne "${b[1]}" ] && { [ "${a[1]}" -gt "${b[1]}" ]; return; }
  [ "${a[2]}" -ne "${b[2]}" ] && { [ "${a[2]}" -gt "${b[2]}" ]; return; }
  [ -z "${a[3]}" ] # a pre-release of the pinned version is older than it
}

# The first pulumi on PATH that is not this project's launcher (npm run puts node_modules/.bin on
# PATH), if it is new enough; sets PULUMI, or `path_note` saying why it was passed over.
PULUMI=""
path_note="no pulumi on PATH"
own_launcher="$(readlink -f node_modules/pulumi/run.js 2>/dev/null || true)"
IFS=: read -r -a path_dirs <<<"$PATH"
for dir in "${path_dirs[@]}"; do
  candidate="${dir:-.}/pulumi"
  [ -f "$candidate" ] && [ -x "$candidate" ] || continue
  [ -n "$own_launcher" ] && [ "$(readlink -f "$candidate")" = "$own_launcher" ] && continue
  if ! version="$(PULUMI_SKIP_UPDATE_CHECK=true "$candidate" version 2>/dev/null)"; then
    path_note="$candidate (on PATH) did not run"
  elif new_enough "$version"; then
    PULUMI="$candidate"
  else
    path_note="$candidate (on PATH) is $version, not a 3.x at least as new as $sdk_pin (the @pulumi/pulumi pin)"
  fi
  break
done

install_dependencies() {
  log "installing dependencies: npm ci"
  npm ci --no-audit --no-fund
}
dependencies_stale() { [ ! -f node_modules/.package-lock.json ] || [ package-lock.json -nt node_modules/.package-lock.json ]; }

if [ -z "$PULUMI" ] && ! command -v npm >/dev/null 2>&1; then
  missing+=("Pulumi CLI: $path_note; the pinned CLI comes with the npm package pulumi@$launcher_pin once Node.js 20 and npm are there")
elif [ -z "$PULUMI" ]; then
  # The launcher is a devDependency: a fresh clone installs the dependencies first.
  if [ ! -f node_modules/pulumi/package.json ] || [ "$(pin version node_modules/pulumi/package.json)" != "$launcher_pin" ]; then
    log "$path_note; the pinned Pulumi CLI launcher (npm package pulumi@$launcher_pin) is not installed yet"
    if install_dependencies; then
      PULUMI="$launcher"
    else
      missing+=("Pulumi CLI: $path_note, and npm ci, which installs the pinned launcher (npm package pulumi@$launcher_pin), failed (its output is above)")
    fi
  else
    PULUMI="$launcher"
  fi
fi
if [ "$PULUMI" = "$launcher" ] && [ ! -x "$launcher_root/bin/pulumi" ]; then
  # First use: the launcher downloads the CLI now, before anything else changes. Its output
  # (progress, errors) goes to the user as it comes and to a file that explains a failure.
  # PULUMI_VERSION would make the launcher fetch another version than the pinned one.
  log "$path_note: fetching the Pulumi CLI v$launcher_pin into $launcher_root with $launcher (npm package pulumi@$launcher_pin; first use only)"
  launcher_log="$(mktemp)"
  trap 'rm -f "$launcher_log"' EXIT
  if ! env -u PULUMI_VERSION PULUMI_SKIP_UPDATE_CHECK=true "$launcher" version 2>&1 | tee "$launcher_log" >&2; then
    PULUMI=""
    why="$(sed -n '$p' "$launcher_log")"
    case "$why" in
      "pulumi: fetch failed") why="this machine cannot reach get.pulumi.com: no network ($why)" ;;
      "pulumi: HTTP "*) why="get.pulumi.com did not serve it ($why)" ;;
      "pulumi: Command failed: /bin/sh "*) why="Pulumi's install script failed (its output is above)" ;;
      *) why="it failed: $why" ;;
    esac
    case "$(uname -s)-$(uname -m)" in
      Linux-x86_64) platform=linux-x64 ;;
      Linux-aarch64 | Linux-arm64) platform=linux-arm64 ;;
      Darwin-x86_64) platform=darwin-x64 ;;
      Darwin-arm64) platform=darwin-arm64 ;;
      *) platform="<os>-<arch>" ;;
    esac
    archive="pulumi-v$launcher_pin-$platform.tar.gz"
    missing+=("Pulumi CLI: $path_note, and $launcher (npm package pulumi@$launcher_pin) could not download the CLI v$launcher_pin: $why. Do one of:
      - connect this machine to the internet and run $command_name again (the CLI is then kept in $launcher_root);
      - or fetch $archive elsewhere (https://github.com/pulumi/pulumi/releases/tag/v$launcher_pin), copy it here and unpack it there: mkdir -p $launcher_root/bin && tar -xzf $archive --strip-components=1 -C $launcher_root/bin (offline, pulumi up then also needs the provider plugins: README, Quick start);
      - or put a Pulumi CLI 3.x at least as new as $sdk_pin (the @pulumi/pulumi pin) on PATH.")
  fi
fi

if [ "${#missing[@]}" -gt 0 ]; then
  echo "$command_name cannot run; missing:" >&2
  for m in "${missing[@]}"; do echo "  - $m" >&2; done
  exit 1
fi
if [ "$PULUMI" = "$launcher" ] && [ "$path_note" != "no pulumi on PATH" ]; then
  log "$path_note: using $launcher (the pinned CLI v$launcher_pin) instead"
fi
# Every pulumi command below runs the CLI chosen above; PULUMI_VERSION is dropped for the launcher.
pulumi() { env -u PULUMI_VERSION "$PULUMI" "$@"; }
[ "$action" = check ] && {
  log "ready: node $(node --version), docker $(docker info --format '{{.ServerVersion}}'), pulumi $(PULUMI_SKIP_UPDATE_CHECK=true pulumi version) ($PULUMI)"
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
if dependencies_stale; then install_dependencies; fi
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
