package deploy

// The shell scripts deploy runs on a server, as root. Every value reaches
// them as a quoted argument ($1…) or on stdin; none is spliced into their
// text (host.Script).

// probeScript prints key=value facts about the host deploy needs before it
// changes anything. $1 is the app folder, $2 the template unit's
// name prefix (the service), $3 the TLS certificate path ("" for none),
// $4 and $5 the ports of slots a and b ("" to skip): busy_<slot>=1 when
// something listens there. link_<slot>= is where the slot's link points, and serving= the address
// the upstream include $6 sends requests to ("" to skip).
const probeScript = `set -u
echo "arch=$(uname -m)"
echo "nproc=$(nproc 2>/dev/null || echo 1)"
[ -d /run/systemd/system ] && echo "systemd=1"
ng=$(command -v nginx 2>/dev/null || { [ -x /usr/sbin/nginx ] && echo /usr/sbin/nginx; } || true)
[ -n "$ng" ] && echo "nginx=$("$ng" -v 2>&1 | sed -n 's|.*nginx/\([0-9.]*\).*|\1|p')"
python3 -c 'import venv, ensurepip' >/dev/null 2>&1 && echo "venv=1"
command -v bash >/dev/null 2>&1 && echo "bash=1"
[ -d /etc/nginx/sites-available ] && [ -d /etc/nginx/sites-enabled ] && echo "debian_sites=1"
[ -d /etc/nginx/conf.d ] && echo "confd=1"
[ -n "$3" ] && [ -e "$3" ] && echo "cert=1"
for s in a b; do echo "active_$s=$(systemctl is-active "$2@$s.service" 2>/dev/null || true)"; done
for s in a b; do echo "link_$s=$(readlink "$1/slots/$s" 2>/dev/null || true)"; done
[ -n "${6:-}" ] && [ -f "$6" ] && echo "serving=$(grep -o 'server [^ ;]*' "$6" | head -n 1 | cut -d' ' -f2)"
if [ -n "$4" ] && command -v bash >/dev/null 2>&1; then
	timeout 2 bash -c 'exec 3<>"/dev/tcp/127.0.0.1/$0"' "$4" 2>/dev/null && echo "busy_a=1"
	timeout 2 bash -c 'exec 3<>"/dev/tcp/127.0.0.1/$0"' "$5" 2>/dev/null && echo "busy_b=1"
fi
if [ -d "$1/releases" ]; then
	for r in "$1"/releases/*; do [ -d "$r" ] && echo "release=${r##*/}"; done
fi
exit 0
`

// lockScript takes the deploy lock of a project: $1 is the lock folder,
// $2 what to record in it. A lock already held prints its record and
// exits 3. A file there is the lock of an early stackctl that deployed a
// single unit (it flocks it while it deploys): free, it is replaced by the
// folder.
const lockScript = `set -u
mkdir -p "$(dirname "$1")"
if [ -f "$1" ]; then
	if command -v flock >/dev/null 2>&1 && ! flock -n "$1" true; then
		echo '{"command":"deploy (an early stackctl, single unit)"}'
		exit 3
	fi
	rm -f "$1"
fi
if mkdir "$1" 2>/dev/null; then
	printf '%s\n' "$2" >"$1/info"
	exit 0
fi
cat "$1/info" 2>/dev/null
exit 3
`

// prepareScript makes release $2 in $1 (the releases folder) from the tar
// on stdin: a copy of release $3 made of hard links (nothing is sent for
// unchanged files), the changed files over it, the files the project no
// longer has removed, every file checked against the manifests (content:
// .stackctl-files, sha256sum's format; permission bits: .stackctl-modes,
// see ModesName), then for a Python app ($4=1) a virtualenv: the base
// release's when requirements.txt did not change ($5=1), else a new one
// with requirements.txt installed. The virtualenv's scripts are made to
// name the release's final folder (it is built under a temporary name).
// The app.data paths (after $6, the data folder) become links into $6.
// The release appears under its name only once complete.
const prepareScript = venvAt + `set -eu
umask 022
rels=$1; id=$2; base=$3; python=$4; reuse=$5; data=$6; shift 6
tmp="$rels/.$id.tmp"
rm -rf "$tmp"
mkdir -p "$rels"
if [ -n "$base" ] && [ -d "$rels/$base" ]; then cp -al "$rels/$base" "$tmp"; else mkdir "$tmp"; fi
chmod 0755 "$tmp"
# The base release's data links go first: nothing is ever written through
# them into the data folder.
for d in "$@"; do rm -rf -- "$tmp/$d"; done
tar -C "$tmp" --no-same-owner -U -xf -
cd "$tmp"
find . -path ./.venv -prune -o \( -type f -o -type l \) -print | sed 's|^\./||' | LC_ALL=C sort >"../.$id.have"
{ cut -c67- .stackctl-files; echo .stackctl-files; echo .stackctl-modes; } | LC_ALL=C sort >"../.$id.want"
LC_ALL=C comm -23 "../.$id.have" "../.$id.want" | while IFS= read -r f; do rm -f -- "$f"; done
rm -f "../.$id.have" "../.$id.want"
sha256sum --quiet --strict -c .stackctl-files
sed 's/^[0-7]*  //' .stackctl-modes | tr '\n' '\0' | xargs -0r stat -c '%a  %n' -- >"../.$id.modes"
if ! cmp -s "../.$id.modes" .stackctl-modes; then
	echo "the release's file modes differ from .stackctl-modes (< on disk, > wanted):"
	diff "../.$id.modes" .stackctl-modes || true
	exit 1
fi
rm -f "../.$id.modes"
if [ "$python" = 1 ]; then
	if [ "$reuse" = 1 ] && [ -x .venv/bin/python ]; then
		echo "venv=reused"
	else
		rm -rf .venv
		python3 -m venv --system-site-packages .venv
		if [ -f requirements.txt ]; then
			PIP_ROOT_USER_ACTION=ignore .venv/bin/python -m pip install --disable-pip-version-check --no-input --quiet -r requirements.txt
		fi
		echo "venv=built"
	fi
	venv_at "$rels/$id/.venv"
fi
for d in "$@"; do
	rm -rf -- "$d"
	mkdir -p -- "$(dirname -- "$d")"
	ln -s -- "$data/$d" "$d"
done
cd /
mv -T "$tmp" "$rels/$id"
`

// venvAt defines the shell function venv_at DIR: in the virtualenv .venv
// of the current folder, the scripts' #! lines and the activate scripts
// name DIR, the virtualenv's final path. pip writes the path it was run
// from into every console script (flask, celery, alembic), and a reused
// virtualenv names the release it came from. sed -i writes a new file, so
// a script hard-linked from another release is never changed there.
const venvAt = `venv_at() {
	for f in .venv/bin/*; do
		[ -f "$f" ] && [ ! -L "$f" ] || continue
		case "$(head -c 256 "$f" | head -n 1)" in
		'#!'*/.venv/bin/python*) sed -i "1s|^#!.*/\.venv/bin/python|#!$1/bin/python|" "$f" ;;
		esac
	done
	for f in .venv/bin/activate .venv/bin/activate.csh .venv/bin/activate.fish; do
		[ -f "$f" ] && sed -i "s|\"[^\"]*/\.venv\"|\"$1\"|g" "$f"
	done
	return 0
}
`

// removeReleasesScript removes the releases named after $1 (the releases
// folder), and their unfinished temporary copies.
const removeReleasesScript = `set -eu
rels=$1; shift
for id in "$@"; do rm -rf -- "$rels/$id" "$rels/.$id.tmp"; done
`

// healthScript waits until the app answers GET $2 on 127.0.0.1:$1 with a
// 2xx or 3xx status (not followed), for at most $3 seconds; unit $4
// restarting (the app crashed) or failing ends the wait early. It asks as
// the site does (DEPLOY.md "Health as the site sees it"): Host is $5, the
// site's first server name, and X-Forwarded-Proto is $6 when set. When the
// app never became healthy it prints the last status, the start of the
// answer's body (control characters removed) and the unit's last lines.
const healthScript = `set -u
port=$1; path=$2; timeout=$3; unit=$4; vhost=$5; proto=$6
restarts() { systemctl show -p NRestarts --value "$unit" 2>/dev/null || echo 0; }
base=$(restarts)
end=$(( $(date +%s) + timeout ))
status=""; body=""
while :; do
	answer=$(timeout 5 bash -c 'exec 3<>"/dev/tcp/127.0.0.1/$1" || exit 1
{
	printf "GET %s HTTP/1.0\r\nHost: %s\r\n" "$2" "$3"
	[ -n "$4" ] && printf "X-Forwarded-Proto: %s\r\n" "$4"
	printf "User-Agent: stackctl-health\r\nConnection: close\r\n\r\n"
} >&3
head -c 2048 <&3' _ "$port" "$path" "$vhost" "$proto" 2>/dev/null | tr -d '\000-\010\013-\037\177' || true)
	status=$(printf '%s\n' "$answer" | head -n 1 | cut -d' ' -f2)
	case "$status" in [23][0-9][0-9]) exit 0 ;; esac
	[ -n "$answer" ] && body=$(printf '%s\n' "$answer" | sed '1,/^$/d' | head -c 300)
	state=$(systemctl is-active "$unit" 2>/dev/null || true)
	if [ "$state" = failed ] || [ "$(restarts)" != "$base" ]; then
		echo "the app exited (systemd: $state); its last lines:"
		journalctl -u "$unit" -n 15 --no-pager -o cat 2>/dev/null
		exit 3
	fi
	if [ "$(date +%s)" -ge "$end" ]; then
		echo "no 2xx or 3xx answer to GET $path (Host: $vhost) on 127.0.0.1:$port within ${timeout}s (last answer: ${status:-no answer})"
		[ -n "$body" ] && printf 'the answer began:\n%s\n' "$body"
		echo "the app's last lines:"
		journalctl -u "$unit" -n 15 --no-pager -o cat 2>/dev/null
		exit 2
	fi
	sleep 0.2
done
`

// switchScript moves traffic: the upstream file $1 gets the content on
// stdin, the release file $5 (the folder nginx serves static files from)
// the content $6, and the link $2 points at $3; nginx checks its
// configuration (all three are put back when it refuses) and reloads
// gracefully, so the upstream and the static files switch together; then
// it waits, at most $4 seconds, for nginx's old workers to finish the
// requests they hold, so the old slot can stop without failing one.
const switchScript = reloadAndDrain + `set -eu
umask 022
up=$1; cur=$2; target=$3; drain=$4; rel=$5; relbody=$6
cat >"$up.new"
printf '%s' "$relbody" >"$rel.new"
had_up=0; [ -e "$up" ] && { cp -a "$up" "$up.old"; had_up=1; }
had_rel=0; [ -e "$rel" ] && { cp -a "$rel" "$rel.old"; had_rel=1; }
oldcur=$(readlink "$cur" 2>/dev/null || true)
restore() {
	if [ "$had_up" = 1 ]; then mv -fT "$up.old" "$up"; else rm -f "$up"; fi
	if [ "$had_rel" = 1 ]; then mv -fT "$rel.old" "$rel"; else rm -f "$rel"; fi
	if [ -n "$oldcur" ]; then ln -sfn "$oldcur" "$cur.new" && mv -fT "$cur.new" "$cur"; else rm -f "$cur"; fi
}
mv -fT "$up.new" "$up"
mv -fT "$rel.new" "$rel"
ln -sfn "$target" "$cur.new"
mv -fT "$cur.new" "$cur"
if ! out=$(nginx -t 2>&1); then
	restore
	printf '%s\n' "$out"
	exit 1
fi
if ! out=$(reload_and_drain "$drain" 2>&1); then
	restore
	printf '%s\n' "$out"
	exit 1
fi
rm -f "$up.old" "$rel.old"
echo "$out"
`

// ensureUserScript creates the app's system user $1 (home $2) when missing.
const ensureUserScript = `set -eu
id -u "$1" >/dev/null 2>&1 && exit 0
useradd --system --user-group --no-create-home --home-dir "$2" --shell /usr/sbin/nologin "$1"
echo created
`

// reloadAndDrain defines the shell function reload_and_drain SECONDS: a
// graceful nginx reload, then a wait (at most SECONDS) until nginx's old
// workers have exited — from then on every request is served with the new
// configuration (systemctl reload only sends the signal). It prints
// drain=done or drain=timeout, and fails when the reload does.
const reloadAndDrain = `reload_and_drain() {
	master=$(cat /run/nginx.pid 2>/dev/null || true)
	old=""
	[ -n "$master" ] && old=$(pgrep -P "$master" | tr '\n' ' ' || true)
	systemctl reload nginx || return 1
	end=$(( $(date +%s) + $1 ))
	for pid in $old; do
		while kill -0 "$pid" 2>/dev/null; do
			if [ "$(date +%s)" -ge "$end" ]; then echo "drain=timeout"; return 0; fi
			sleep 0.05
		done
	done
	echo "drain=done"
}
`

// reloadScript reloads nginx and waits for its old workers ($1 seconds at
// most): the lb's site change.
const reloadScript = reloadAndDrain + `set -eu
reload_and_drain "$1"
`
