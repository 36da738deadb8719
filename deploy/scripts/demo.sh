#!/usr/bin/env bash
# The README's run command: installs what is missing, builds, starts linkd on
# an embedded RocksDB folder under the checkout (var/linkd-data) with mTLS
# (a development CA from deploy/scripts/dev-ca.sh), and runs the demo: a demo
# linkage key, a synthetic population from three providers encoded as each
# would on its own side, submitted under each organisation's certificate,
# what linkd stored and linked, a safeguarding notification flow, and the
# audit log verified by the IG team.
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
certs=$demo/certs
mkdir -p "$demo"

# The organisations of the demo (policies/organisations.textproto): one
# school, the council's social care, an NHS trust, the council's IG team and
# the team that runs linkd. Each submits as its own organisation id.
school=school/100001
la=la/999
health=health/RX1
ig=la/999-ig
ops=la/999-ops

# linkctl as organisation ORG, presenting its development certificate.
as() {
  local org=$1; shift
  "$bin/linkctl" --server "$addr" --cert "$certs/${org//\//-}.pem" \
    --key "$certs/${org//\//-}.key" --ca "$certs/ca.pem" "$@"
}

echo
echo "== 0. A development CA issues certificates to linkd and each organisation"
deploy/scripts/dev-ca.sh "$certs"
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
  local source=$1 file=$2; shift 2
  local status=0
  "$bin/linkd-encode" --key "$demo/linkage.key" --source "$source" "$@" \
    --out "$demo/$file.linkd" "$demo/population/$file.csv" || status=$?
  # 3 means some rows were rejected (summary above); anything else is fatal.
  if [ "$status" -ne 0 ] && [ "$status" -ne 3 ]; then exit "$status"; fi
}
encode "$school" school_census --date-format DD/MM/YYYY \
  --map record_id=pupil_ref --map upn=upn --map given_name=forename \
  --map family_name=surname --map dob=dob --map sex=gender --map postcode=postcode
encode "$la" social_care \
  --map record_id=case_id --map given_name=first_name --map family_name=last_name \
  --map dob=date_of_birth --map sex=sex --map postcode=post_code \
  --map nhs_number=nhs_no --map upn=upn
encode "$health" health --date-format YYYYMMDD \
  --map record_id=patient_id --map nhs_number=nhs_number --map given_name=given \
  --map family_name=family --map dob=birth_date --map sex=sex_code --map postcode=postcode
echo "-- one encoded record, as JSON for inspection:"
"$bin/linkd-encode" --key "$demo/linkage.key" --source "$health" --format jsonl \
  --date-format YYYYMMDD --map record_id=patient_id --map nhs_number=nhs_number \
  --map given_name=given --map family_name=family --map dob=birth_date \
  --map sex=sex_code --map postcode=postcode "$demo/population/health.csv" \
  2>/dev/null | awk 'NR == 1 { print substr($0, 1, 400) }'
echo "..."

echo
echo "== 4. linkd starts on an embedded RocksDB folder ($data), with mTLS"
echo "   and the policies of policies/ (loaded and their tests run at start-up)"
ready=$demo/linkd.ready
rm -f "$ready"
"$bin/linkd" --config deploy/config/linkd.textproto --data-dir "$data" \
  --listen "127.0.0.1:$port" --ready-file "$ready" \
  --tls-cert "$certs/server.pem" --tls-key "$certs/server.key" \
  --client-ca "$certs/ca.pem" 2>"$demo/linkd.log" &
linkd_pid=$!
stop_linkd() {
  if kill -0 "$linkd_pid" 2>/dev/null; then
    kill -TERM "$linkd_pid"; wait "$linkd_pid" || true
  fi
}
trap stop_linkd EXIT
for _ in $(seq 1 400); do
  [ -s "$ready" ] && break
  if ! kill -0 "$linkd_pid" 2>/dev/null; then
    cat "$demo/linkd.log" >&2; exit 1
  fi
  sleep 0.05
done
addr=localhost:$(sed 's/.*://' "$ready")
echo "linkd is serving on $addr (pid $linkd_pid, log $demo/linkd.log)"

echo
echo "== 5. Each provider submits its encoded file under its own certificate"
as "$school" submit "$demo/school_census.linkd" || [ $? -eq 3 ]
as "$la" submit "$demo/social_care.linkd" || [ $? -eq 3 ]
as "$health" submit "$demo/health.linkd" || [ $? -eq 3 ]
echo "-- roles come from the policies, never from the request: a school cannot read the audit log"
as "$school" audit verify || true

echo
echo "== 6. What linkd stored (counts only: linkd never shows token values)"
as "$ops" stats

echo
echo "== 7. Linked into single unique identifiers (SUIs)"
as "$ops" linking status
echo "-- the school sees only its own records' links (source, record, SUI):"
as "$school" links --source "$school" | awk 'NR <= 4'
first=$(sed -n 2p "$demo/population/health.csv" | cut -d, -f2)
echo "-- the trust resolves its record $first:"
as "$health" resolve --source "$health" --record "$first"
echo "-- the IG team's clerical review queue:"
as "$ig" review list | awk 'NR <= 4'

echo
echo "== 8. Safeguarding: the council starts a Child Protection plan for a pupil"
# A synthetic child held by both the school and social care (ground truth).
child=$(awk -F, '$1=="school_census"{s[$3]=$2} $1=="social_care"{c[$3]=$2}
  END{for (p in c) if (p in s) {print s[p] "," c[p]; exit}}' \
  "$demo/population/truth.csv")
pupil=${child%,*} case_ref=${child#*,}
{ echo "$(head -n 1 "$demo/population/social_care.csv"),event_id,type,date,episode_kind,contact_org,contact_team,contact_phone"
  grep "^$case_ref," "$demo/population/social_care.csv" |
    sed 's/$/,CP-DEMO-1,episode_start,2026-11-02,cp,la\/999,Children'"'"'s Services North,01632 960000/'
} > "$demo/cp_plan.csv"
"$bin/linkd-encode" events --key "$demo/linkage.key" --source "$la" \
  --map record_id=case_id --map given_name=first_name --map family_name=last_name \
  --map dob=date_of_birth --map sex=sex --map postcode=post_code \
  --map nhs_number=nhs_no --map upn=upn \
  --out "$demo/cp_plan.linkd" "$demo/cp_plan.csv"
as "$la" submit "$demo/cp_plan.linkd"
echo "-- the school is told that its pupil has a social worker:"
as "$school" notifications watch --count 1 --wait 30
echo "-- the school reports a 3-day suspension; the council's team is told:"
{ echo "$(head -n 1 "$demo/population/school_census.csv"),event_id,type,date,days"
  grep "^$pupil," "$demo/population/school_census.csv" |
    sed 's/$/,SUSP-DEMO-1,suspension,16\/11\/2026,3/'
} > "$demo/suspension.csv"
"$bin/linkd-encode" events --key "$demo/linkage.key" --source "$school" \
  --date-format DD/MM/YYYY --map record_id=pupil_ref --map upn=upn \
  --map given_name=forename --map family_name=surname --map dob=dob \
  --map sex=gender --map postcode=postcode \
  --out "$demo/suspension.linkd" "$demo/suspension.csv"
as "$school" submit "$demo/suspension.linkd"
as "$la" notifications watch --count 1 --wait 30

echo
echo "== 9. The IG team verifies the tamper-evident audit log"
as "$ig" audit verify
as "$ig" audit export --format jsonl | tail -n 2 | cut -c1-300

echo
if [ "$keep" = 1 ]; then
  echo "linkd keeps running on $addr; try, as the IG team:"
  echo "  $bin/linkctl --server $addr --cert $certs/la-999-ig.pem \\"
  echo "    --key $certs/la-999-ig.key --ca $certs/ca.pem audit verify"
  echo "Press Ctrl-C to stop it."
  wait "$linkd_pid" || true
else
  echo "Demo finished; stopping linkd (data kept in $data)."
fi
