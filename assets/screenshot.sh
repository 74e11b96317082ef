#!/usr/bin/env bash
# Makes assets/screenshot.png from a real `drover demo` run: tmux captures the screen
# with its colours, ansi2png.py draws it. Needs Docker, tmux, Pillow and DejaVu fonts.
set -euo pipefail
cd "$(dirname "$0")/.."
bin=${DROVER_BIN:-target/release/drover}
[ -x "$bin" ] || cargo build --release --locked
bin=$(realpath "$bin")
tmp=$(mktemp -d)
sock=drover-shot-$$
cleanup() {
  tmux -L "$sock" kill-server 2>/dev/null || true
  ids=$(docker ps -aq --filter "label=drover.managed=true" --filter "label=drover.repo=$repo_hash" 2>/dev/null || true)
  [ -z "$ids" ] || docker rm -f $ids >/dev/null
  rm -rf "$tmp"
}
repo_hash=none
trap cleanup EXIT
tmux -L "$sock" -f /dev/null new-session -d -x 150 -y 38 \
  -e "DROVER_HOME=$tmp/data" -e "XDG_CONFIG_HOME=$tmp/config" "$bin demo --dir $tmp/demo"
wait_for() {
  for _ in $(seq 1 300); do
    tmux -L "$sock" capture-pane -p | grep -q "$1" && return 0
    sleep 0.2
  done
  echo "screenshot: timed out waiting for $1" >&2; tmux -L "$sock" capture-pane -p >&2; exit 1
}
wait_for "3 review"
repo_hash=$(python3 -c 'import hashlib,sys; print(hashlib.sha256(sys.argv[1].encode()).hexdigest()[:12])' "$(realpath "$tmp/demo/shop")")
# The feature task, its transcript.
tmux -L "$sock" send-keys j
sleep 0.5
tmux -L "$sock" capture-pane -e -p > "$tmp/screen.ans"
python3 assets/screenshot/ansi2png.py "$tmp/screen.ans" assets/screenshot.png
echo "wrote assets/screenshot.png"
