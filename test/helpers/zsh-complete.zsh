#!/usr/bin/env zsh
# What zsh's completion system offers, as a person would get it: an
# interactive zsh in a pseudo-terminal (zsh/zpty) sources SETUP (ec's
# `autocomplete script zsh` line), then for each LINE types it and a TAB.
# Every candidate added to the completion list is printed as `LINE<TAB>CANDIDATE`;
# a line with no candidates prints `LINE<TAB>` alone.
#
#   zsh -f zsh-complete.zsh SETUP 'ec instance show ' 'ec host show ' …
zmodload zsh/zpty || exit 3
setup=$1; shift
integer deadline=$(( SECONDS + ${ZSH_COMPLETE_TIMEOUT:-60} ))

zpty z zsh -f -i
zpty -w z "PS1=''; PROMPT=''; RPROMPT=''; unsetopt zle_bracketed_paste beep 2>/dev/null"
zpty -w z "source ${(q)setup}"
# Capture every match added, whichever completion function adds it.
zpty -w z 'compadd() { local -a __m; builtin compadd -A __m "$@"; local m; for m in $__m; do print -r -- "CAND${:-:}$m"; done; builtin compadd "$@"; }'
# TAB completes, then says so.
zpty -w z 'ec-complete() { zle complete-word; print -r -- "DONE${:-:}"; }; zle -N ec-complete; bindkey "^I" ec-complete'
zpty -w z 'zstyle ":completion:*" menu no'
# The markers are spelled so that the terminal's echo of these lines never holds them.
zpty -w z 'print -r -- "READY${:-:}"'

# Read lines until one holds $1; print those holding CAND: (the candidate) on stdout.
read_until() {
  local line
  while (( SECONDS < deadline )); do
    if zpty -r -t z line 2>/dev/null; then
      line=${line%$'\n'}
      line=${line%$'\r'}
      if [[ $line == *CAND:* ]]; then print -r -- "$current"$'\t'"${line#*CAND:}"; found=1; fi
      [[ $line == *$1* ]] && return 0
    else
      sleep 0.05
    fi
  done
  print -u2 "zsh-complete: timed out waiting for $1"
  exit 4
}

current=''
read_until READY:
for current in "$@"; do
  found=0
  zpty -w -n z "$current"$'\t'
  read_until DONE:
  (( found )) || print -r -- "$current"$'\t'
  # Clear the line for the next one.
  zpty -w -n z $'\C-e\C-u'
done
zpty -d z
