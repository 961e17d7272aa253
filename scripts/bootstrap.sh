#!/usr/bin/env bash
# Prepare this checkout on Debian 12: the Debian packages it needs and .venv.
#
#   scripts/bootstrap.sh run    venv + runtime deps (python3-venv, apertium-eng-spa and
#                               lttoolbox from apt if missing)
#   scripts/bootstrap.sh test   + postgresql, redis-server, chromium, ffmpeg, espeak-ng,
#                               and the [test] extras
#   scripts/bootstrap.sh lint   venv + [test] extras, no other system packages
#
# Idempotent: when everything is present it only runs a few checks (well under a second).
set -euo pipefail
cd "$(dirname "$0")/.."

mode=${1:-test}
case $mode in
  run) extra="" system=0 language=1 ;;
  test) extra=test system=1 language=1 ;;
  lint) extra=test system=0 language=0 ;;
  *) echo "usage: $0 [run|test|lint]" >&2; exit 2 ;;
esac

venv=.venv
sudo=""
[[ $(id -u) -eq 0 ]] || sudo=sudo

# Interpreter for a new venv: $PYTHON, else python3.11, else python3 (>= 3.11 required).
py=${PYTHON:-$(command -v python3.11 || command -v python3 || true)}
if [[ -z $py ]] || ! "$py" -c 'import sys; sys.exit(sys.version_info < (3, 11))' 2>/dev/null; then
  echo "bootstrap: Python >= 3.11 is required (set PYTHON=/path/to/python3.11)" >&2
  exit 1
fi

have_postgres() {
  local d
  for d in /usr/lib/postgresql/*/bin; do
    [[ -x $d/initdb && -x $d/pg_ctl && -x $d/postgres ]] && return 0
  done
  command -v initdb && command -v pg_ctl && command -v postgres
} >/dev/null

venv_ok() { [[ -x $venv/bin/python ]] && "$venv/bin/python" -c '' 2>/dev/null; }

# --- Debian packages: collect everything missing, then one apt-get update + install.
pkgs=()
if ! venv_ok && ! "$py" -c 'import ensurepip, venv' 2>/dev/null; then
  pkgs+=(python3-venv)
fi
# Spanish morphology for the offline grammar checks (Apertium's analyser and generator).
if ((language)); then
  [[ -e /usr/share/apertium/apertium-eng-spa/spa-eng.automorf.bin ]] || pkgs+=(apertium-eng-spa)
  command -v lt-proc >/dev/null || pkgs+=(lttoolbox)
fi
if ((system)); then
  have_postgres || pkgs+=(postgresql)
  command -v redis-server >/dev/null || pkgs+=(redis-server)
  [[ -x /usr/bin/chromium ]] || pkgs+=(chromium)
  command -v ffmpeg >/dev/null || pkgs+=(ffmpeg)
  command -v espeak-ng >/dev/null || pkgs+=(espeak-ng)
fi

if ((${#pkgs[@]})); then
  echo "installing Debian packages: ${pkgs[*]}"
  mkdir -p var
  log=var/bootstrap-apt.log
  # Keep package postinst scripts from starting services (e.g. a cluster on 5432).
  # An existing policy-rc.d (Docker images ship one) is left alone.
  policy=/usr/sbin/policy-rc.d
  if [[ ! -e $policy ]]; then
    trap '$sudo rm -f "$policy"' EXIT
    printf '#!/bin/sh\nexit 101\n' | $sudo tee "$policy" >/dev/null
    $sudo chmod 755 "$policy"
  fi
  if ! { $sudo apt-get update -q &&
    $sudo env DEBIAN_FRONTEND=noninteractive \
      apt-get install -y -q --no-install-recommends "${pkgs[@]}"; } >"$log" 2>&1; then
    tail -n 30 "$log" >&2
    echo "bootstrap: apt-get failed (full log: $log)" >&2
    exit 1
  fi
  if [[ $(trap -p EXIT) ]]; then $sudo rm -f "$policy"; trap - EXIT; fi
fi

# --- Python virtualenv.
if ! venv_ok; then
  echo "creating $venv with $("$py" -c 'import sys; print(sys.executable)')"
  rm -rf "$venv"
  "$py" -m venv "$venv"
fi

stamp=$venv/.installed-${extra:-run}
fresh() { [[ -e $1 && $1 -nt pyproject.toml ]]; }
if ! fresh "$stamp" && ! { [[ -z $extra ]] && fresh "$venv/.installed-test"; }; then
  target=".${extra:+[$extra]}"
  echo "installing Python packages: -e '$target'"
  "$venv/bin/python" -m pip install -q --disable-pip-version-check -e "$target"
  touch "$stamp"
fi
