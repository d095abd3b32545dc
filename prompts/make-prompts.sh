#!/usr/bin/env bash
# Regenerates the shipped prompt set: English speech from espeak-ng and music on hold from sox's
# synthesizer, all written as 8 kHz 16-bit mono WAV (what a G.711 call plays without conversion).
# The output is committed; run this only to change a text or add a prompt:
#   apt-get install espeak-ng sox && prompts/make-prompts.sh
set -euo pipefail
cd "$(dirname "$0")"
command -v espeak-ng >/dev/null && command -v sox >/dev/null || {
  echo "make-prompts: needs espeak-ng and sox (apt-get install espeak-ng sox)" >&2; exit 1; }

voice=(-v en-us -s 150 -p 45)
out=en
mkdir -p "$out" moh

say() { # name text
  espeak-ng "${voice[@]}" --stdout "$2" |
    sox -R -q -t wav - -r 8000 -c 1 -b 16 -e signed-integer "$out/$1.wav" \
      highpass 200 norm -3 pad 0.05 0.15
}

say welcome "Thank you for calling. Calls may be recorded for quality and training."
say main-menu "For sales, press 1. For support, press 2. To leave a message, press 0."
say invalid "Sorry, that is not a valid choice."
say no-input "Sorry, we did not hear your choice."
say goodbye "Thank you for calling. Goodbye."
say closed "Our office is closed right now. Please call again during business hours."
say caller-number "You are caller number"
say estimated-wait "Your estimated waiting time is"
say minute "minute"
say minutes "minutes"
say please-hold "Please hold. The next available agent will answer your call."
say all-busy "All our agents are busy at the moment. Please stay on the line."
say voicemail "Please leave your message after the tone. Press the hash key when you are done."
say voicemail-saved "Your message has been saved. We will call you back."
say survey-intro "Please stay on the line for a short survey about this call."
say survey-question "How satisfied were you with this call? Press 1 for not at all, up to 5 for very satisfied."
say survey-thanks "Thank you for your feedback."
say agent-was "The agent who served you was number"
say you-pressed "You pressed"
say playback-test "This is the playback test. Press any key to interrupt."
say agent-logged-in "You are logged in."
say agent-logged-out "You are logged out."
say agent-ready "You are ready for calls."
say agent-paused "You are paused."
say number-busy "The number you called is busy."
say no-answer "There was no answer from the number you called."
say call-failed "Sorry, the call could not be completed."
say callback-confirm "To be called back at the number you are calling from, press 1. To give another number, key it in, then press hash."
say callback-thanks "Thank you. You keep your place in the queue, and we will call you back. Goodbye."
# A predictive campaign's call no agent took within 2 s (16 CFR 310.4(b)(4)(iii) asks for the
# seller's name and number: an operator records their own with 'acdctl prompt record').
say campaign-abandon "Hello. This is a call from our sales team, but nobody is free to speak with you right now. To reach us, please call the number on your display. Goodbye."
for n in $(seq 0 20); do say "number-$n" "$n"; done
say star "star"
say hash "hash"

# Music on hold: a slow arpeggio over four chords (C, A minor, F, G), plucked strings from sox's
# synthesizer, with a short fade at both ends so the loop point does not click.
tmp=$(mktemp -d); trap 'rm -rf "$tmp"' EXIT
i=0
for chord in "C3 E3 G3 C4 G3 E3" "A2 C3 E3 A3 E3 C3" "F2 A2 C3 F3 C3 A2" "G2 B2 D3 G3 D3 B2"; do
  for rep in 1 2; do
    for note in $chord; do
      i=$((i + 1))
      sox -R -q -n -r 8000 -c 1 -b 16 "$tmp/$(printf %04d $i).wav" synth 0.42 pluck "$note" vol 0.6
    done
  done
done
sox -R -q "$tmp"/*.wav -r 8000 -c 1 -b 16 -e signed-integer moh/default.wav reverb 30 norm -6 fade t 0.05 0 0.05
