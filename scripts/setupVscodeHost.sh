#!/usr/bin/env bash
# Installs the real VS Code server (the one inside the npm package `code-server`) for the host and UI
# test tiers, using only the npm registry and Debian packages. Idempotent: a finished install is
# marked by a stamp file and skipped. The VS Code update servers and GitHub are not reachable here.
# Usage: scripts/setupVscodeHost.sh [DEST]   (default .vscode-test/code-server)
set -euo pipefail
CS_VERSION=4.100.3   # = VS Code 1.100.3, the newest that runs on Node 20; UI selectors depend on it
DEST=${1:-$(cd "$(dirname "$0")/.." && pwd)/.vscode-test/code-server}
STAMP="$DEST/.installed-$CS_VERSION"
[ -f "$STAMP" ] && { echo "VS Code host: already installed ($DEST)"; exit 0; }

if ! command -v chromium >/dev/null || ! command -v rg >/dev/null; then
  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium ripgrep >/dev/null
fi
# node-gyp must build native modules against the local Node headers, never download them.
export npm_config_nodedir=${npm_config_nodedir:-$(dirname "$(dirname "$(command -v node)")")}
mkdir -p "$DEST" && cd "$DEST"
[ -f package.json ] || echo '{"name":"code-server-host","private":true}' > package.json
# --ignore-scripts: code-server's postinstall would fetch ripgrep from GitHub.
npm install --no-audit --no-fund --ignore-scripts --loglevel=error "code-server@$CS_VERSION"
cd node_modules/code-server/lib/vscode
npm install --no-audit --no-fund --omit=dev --ignore-scripts --loglevel=error
mkdir -p node_modules/@vscode/ripgrep/bin && ln -sf "$(command -v rg)" node_modules/@vscode/ripgrep/bin/rg
for m in @parcel/watcher @vscode/spdlog native-watchdog @vscode/native-watchdog @vscode/deviceid @vscode/fs-copyfile @vscode/sqlite3 node-pty; do
  [ -d "node_modules/$m" ] || continue
  # node-pty's dev-only configure step fails, but its pty.node is built anyway.
  npm rebuild --loglevel=error "$m" >/dev/null 2>&1 || echo "note: rebuild of $m returned non-zero"
done
ln -sfn node_modules node_modules.asar
(cd bin/remote-cli && ln -sfn code-linux.sh code-server)
(cd bin/helpers && ln -sfn browser-linux.sh browser.sh)
(cd extensions && npm install --no-audit --no-fund --omit=dev --ignore-scripts --loglevel=error)
for m in @vscode/spdlog @vscode/sqlite3 node-pty; do [ -d "node_modules/$m" ] && node -e "require('$m')"; done; true
touch "$STAMP"
echo "VS Code host: installed $(node out/server-main.js --version 2>/dev/null | head -1) at $PWD/out/server-main.js"
