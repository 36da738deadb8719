#!/usr/bin/env bash
# The README's run command: installs what is missing, builds, starts linkd on
# an embedded RocksDB folder under the checkout (var/linkd-data), and runs the
# demo: a demo linkage key, a synthetic population from three sources encoded
# as each provider would, submitted, and what linkd stored.
#
# Environment: LINKD_PORT (default 7300), DEMO_PEOPLE (default 5000),
# DEMO_KEEP_RUNNING=1|0 (default: keep linkd running when run from a terminal).
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
cd "$root"
port=${LINKD_PORT:-7300}
people=${DEMO_PEOPLE:-5000}
keep=${DEMO_KEEP_RUNNING:-$([ -t 0 ] && echo 1 || echo 0)}

deploy/scripts/install-deps.sh
echo "== building linkd, linkd-encode, linkctl, linkd-synth"
LINKD_TARGETS="linkd linkd-encode linkctl linkd-synth" \
  deploy/scripts/build.sh "$root/build"
bin=$root/build/bin
demo=$root/var/demo
data=$root/var/linkd-data
mkdir -p "$demo"

echo
echo "== 1. The key custodian issues a demo linkage key (linkd never sees it)"
if [ ! -f "$demo/linkage.key" ]; then
  "$bin/linkd-encode" keygen --out "$demo/linkage.key"
fi
ls -l "$demo/linkage.key"

echo
echo "== 2. Three providers hold synthetic extracts ($people synthetic children)"
"$bin/linkd-synth" --people "$people" --seed 2026 --out "$demo/population"
for f in school_census social_care health; do
  echo "-- $f.csv (first 2 rows; synthetic people)"
  head -n 3 "$demo/population/$f.csv"
done

echo
echo "== 3. Each provider encodes locally: only keyed tokens and Bloom filters leave"
encode() {
  local source=$1; shift
  local status=0
  "$bin/linkd-encode" --key "$demo/linkage.key" --source "$source" "$@" \
    --out "$demo/$source.linkd" "$demo/population/$source.csv" || status=$?
  # 3 means some rows were rejected (summary above); anything else is fatal.
  if [ "$status" -ne 0 ] && [ "$status" -ne 3 ]; then exit "$status"; fi
}
encode school_census --date-format DD/MM/YYYY \
  --map record_id=pupil_ref --map upn=upn --map given_name=forename \
  --map family_name=surname --map dob=dob --map sex=gender --map postcode=postcode
encode social_care \
  --map record_id=case_id --map given_name=first_name --map family_name=last_name \
  --map dob=date_of_birth --map sex=sex --map postcode=post_code \
  --map nhs_number=nhs_no --map upn=upn
encode health --date-format YYYYMMDD \
  --map record_id=patient_id --map nhs_number=nhs_number --map given_name=given \
  --map family_name=family --map dob=birth_date --map sex=sex_code --map postcode=postcode
echo "-- one encoded record, as JSON for inspection:"
"$bin/linkd-encode" --key "$demo/linkage.key" --source health --format jsonl \
  --date-format YYYYMMDD --map record_id=patient_id --map nhs_number=nhs_number \
  --map given_name=given --map family_name=family --map dob=birth_date \
  --map sex=sex_code --map postcode=postcode "$demo/population/health.csv" \
  2>/dev/null | head -n 1 | cut -c1-400
echo "..."

echo
echo "== 4. linkd starts on an embedded RocksDB folder: $data"
ready=$demo/linkd.ready
rm -f "$ready"
"$bin/linkd" --data-dir "$data" --listen "127.0.0.1:$port" --ready-file "$ready" \
  2>"$demo/linkd.log" &
linkd_pid=$!
stop_linkd() {
  if kill -0 "$linkd_pid" 2>/dev/null; then
    kill -TERM "$linkd_pid"; wait "$linkd_pid" || true
  fi
}
trap stop_linkd EXIT
for _ in $(seq 1 200); do
  [ -s "$ready" ] && break
  if ! kill -0 "$linkd_pid" 2>/dev/null; then
    cat "$demo/linkd.log" >&2; exit 1
  fi
  sleep 0.05
done
addr=$(cat "$ready")
echo "linkd is serving on $addr (pid $linkd_pid, log $demo/linkd.log)"

echo
echo "== 5. The providers submit their encoded files"
"$bin/linkctl" --server "$addr" submit "$demo/school_census.linkd" \
  "$demo/social_care.linkd" "$demo/health.linkd" || [ $? -eq 3 ]

echo
echo "== 6. What linkd stored (counts only: linkd never shows token values)"
"$bin/linkctl" --server "$addr" stats

echo
echo "== 7. Linked into single unique identifiers (SUIs)"
"$bin/linkctl" --server "$addr" linking status
echo "-- the first links (source, record, SUI):"
"$bin/linkctl" --server "$addr" links | head -n 6
first=$(sed -n 2p "$demo/population/health.csv" | cut -d, -f2)
echo "-- resolve health record $first:"
"$bin/linkctl" --server "$addr" resolve --source health --record "$first"

echo
if [ "$keep" = 1 ]; then
  echo "linkd keeps running on $addr; try: $bin/linkctl --server $addr stats"
  echo "Press Ctrl-C to stop it."
  wait "$linkd_pid" || true
else
  echo "Demo finished; stopping linkd (data kept in $data)."
fi
