#!/usr/bin/env bash
# A real-terminal run of the TUI: start `traindoc --demo saddle_point` in tmux, answer with keys,
# type in the text box (the focus must come back to the answers), let it measure, export, quit
# (timed: the screen must be gone within TUI_QUIT_LIMIT_MS), reopen with --resume alone (the demo
# must come back with the session), start the automatic diagnosis and quit while it runs (timed).
#
# Every wait polls `tmux capture-pane` until the expected text shows up, bounded by
# TUI_CHECK_TIMEOUT seconds (default 120); there are no fixed sleeps.
#
# Usage: scripts/tui_tmux_check.sh        (exit 0 and "tui_tmux_check: OK" when every step passed)
# Env:   TRAINDOC     the command to run (default: traindoc, or python -m assistant if not on PATH)
#        TUI_CHECK_TIMEOUT, TUI_CHECK_KEEP=1 keeps the work directory for a look afterwards
#        TUI_QUIT_LIMIT_MS  how long quitting may take until the screen is gone (default 1500: the
#                           goal is well under a second; the bound leaves room for a loaded CI box)
set -euo pipefail

TIMEOUT="${TUI_CHECK_TIMEOUT:-120}"
QUIT_LIMIT_MS="${TUI_QUIT_LIMIT_MS:-1500}"
WORK="$(mktemp -d "${TMPDIR:-/tmp}/tui-check.XXXXXX")"
SESSION="traindoc-check-$$"
REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
if [[ -n "${TRAINDOC:-}" ]]; then
    CMD="$TRAINDOC"
elif command -v traindoc >/dev/null 2>&1; then
    CMD="traindoc"
else
    CMD="$(command -v python3 || command -v python) -m assistant"
fi

command -v tmux >/dev/null || { echo "tui_tmux_check: tmux is not installed" >&2; exit 2; }

cleanup() {
    tmux kill-session -t "$SESSION" 2>/dev/null || true
    if [[ "${TUI_CHECK_KEEP:-0}" != 1 ]]; then rm -rf "$WORK"; else echo "kept $WORK"; fi
}
trap cleanup EXIT

screen() { tmux capture-pane -p -t "$SESSION" 2>/dev/null || true; }

fail() {
    echo "tui_tmux_check: FAILED: $*" >&2
    echo "----- last screen -----" >&2
    screen >&2
    exit 1
}

# wait_for TEXT [TIMEOUT]: poll the screen until TEXT (a fixed string) is on it
wait_for() {
    local text="$1" limit="${2:-$TIMEOUT}" start=$SECONDS
    until screen | grep -qF -- "$text"; do
        ((SECONDS - start < limit)) || fail "'$text' did not appear within ${limit}s"
        sleep 0.2
    done
    echo "  ok: $text"
}

# wait_exit: the program in the pane has ended, with status 0. The status comes from a file the
# wrapping shell writes: tmux's #{pane_dead_status} is sometimes empty right after the pane dies.
wait_exit() {
    local start=$SECONDS
    until [[ -s "$WORK/exit-status" ]]; do
        ((SECONDS - start < TIMEOUT)) || fail "traindoc did not exit within ${TIMEOUT}s"
        sleep 0.2
    done
    local status
    status="$(cat "$WORK/exit-status")"
    [[ "$status" == 0 ]] || fail "traindoc exited with status $status"
    echo "  ok: exited cleanly"
    tmux kill-session -t "$SESSION"
}

start() {
    rm -f "$WORK/exit-status"
    tmux new-session -d -s "$SESSION" -x 120 -y 45 -c "$WORK" \
        "env TRAINDOC_HOME='$WORK/home' PYTHONPATH='$REPO' $CMD $*; echo \$? > '$WORK/exit-status'"
    tmux set-option -t "$SESSION" remain-on-exit on >/dev/null
}

keys() { tmux send-keys -t "$SESSION" "$@"; }

# wait_gone TEXT: poll the screen until TEXT has left it
wait_gone() {
    local text="$1" start=$SECONDS
    while screen | grep -qF -- "$text"; do
        ((SECONDS - start < TIMEOUT)) || fail "'$text' did not go within ${TIMEOUT}s"
        sleep 0.1
    done
}

now_ms() { date +%s%3N; }

# quit_timed KEY: press KEY and time until the app's header has left the screen
quit_timed() {
    local start elapsed
    start="$(now_ms)"
    keys "$1"
    while screen | grep -qF "traindoc — session"; do
        elapsed=$(($(now_ms) - start))
        ((elapsed < TIMEOUT * 1000)) || fail "the screen was still up ${elapsed} ms after $1"
        sleep 0.02
    done
    elapsed=$(($(now_ms) - start))
    ((elapsed <= QUIT_LIMIT_MS)) || fail "quitting took ${elapsed} ms (limit ${QUIT_LIMIT_MS} ms)"
    echo "  ok: quit in ${elapsed} ms"
}

echo "tui_tmux_check: $CMD --demo saddle_point (in $WORK)"
start --demo saddle_point
wait_for "Is the loss on your TRAINING data large?"
keys i                       # type in the text box: nothing to answer in it
wait_gone "q Quit"           # the footer: q types a letter while the text box has the focus
keys -l "hello there"
keys Enter
wait_for "I didn't find an answer"
wait_for "q Quit"            # the focus is back on the answers: y answers, q quits again
keys y
wait_for "Does a DEEPER variant of your model reach a HIGHER training loss"
keys y
wait_for "Optimization issue: the model could fit better"
wait_for "Where training stopped, is the gradient norm close to zero?"
keys w
wait_for "Why I ask “Where training stopped, is the gradient norm close to zero?”"
keys m                       # measure: the curvature probe on the demo
wait_for "Diagnosis complete"
wait_for "Stuck at a saddle"     # in the summary (the card itself has scrolled up)
keys e
wait_for "Export the report"
keys Enter
wait_for "Report written"
ls "$WORK"/traindoc-report-*.md "$WORK"/traindoc-report-*.json >/dev/null 2>&1 || fail "no exported files in $WORK"
echo "  ok: exported $(cd "$WORK" && ls traindoc-report-*.md)"
quit_timed q
wait_exit

echo "tui_tmux_check: $CMD --resume (the demo comes back with the session)"
start --resume
wait_for "Resumed your last session"
wait_for "Stuck at a saddle"
wait_for "setup demo:saddle_point"
keys C-n                     # a new session, same demo: diagnose automatically, quit while it runs
wait_for "Started a new session"
keys a
wait_for "Measuring: auto"
quit_timed q
wait_exit

echo "tui_tmux_check: OK"
