#!/bin/sh
# Makes the image the examples and tests run, from Debian's busybox-static: a root filesystem
# with busybox and every applet, /etc/passwd and /etc/group, imported into berth's image store.
# No registry and no internet are involved.
#
#   sh examples/make-busybox-image.sh [REFERENCE]     (default berth-examples/busybox:1)
#
# BERTH names the berth executable (default: berth on PATH).
set -eu
ref=${1:-berth-examples/busybox:1}
berth=${BERTH:-berth}
busybox=/bin/busybox
if [ ! -x "$busybox" ] || ! "$busybox" --list >/dev/null 2>&1; then
    echo "make-busybox-image: $busybox is missing: apt-get install busybox-static" >&2
    exit 1
fi
dir=$(mktemp -d)
trap 'rm -rf "$dir"' EXIT
root="$dir/rootfs"
mkdir -p "$root/bin" "$root/etc" "$root/proc" "$root/sys" "$root/dev" "$root/tmp" \
    "$root/root" "$root/run" "$root/usr/local/bin" "$root/var/www" "$root/home/app"
chmod 1777 "$root/tmp"
ln -s ../run "$root/var/run"
cp "$busybox" "$root/bin/busybox"
for applet in $("$busybox" --list); do
    [ "$applet" = busybox ] || ln -sf busybox "$root/bin/$applet"
done
cat >"$root/etc/passwd" <<'PASSWD'
root:x:0:0:root:/root:/bin/sh
app:x:1000:1000:app:/home/app:/bin/sh
nobody:x:65534:65534:nobody:/nonexistent:/bin/false
PASSWD
cat >"$root/etc/group" <<'GROUP'
root:x:0:
app:x:1000:
nogroup:x:65534:
GROUP
tar -C "$root" -cf "$dir/rootfs.tar" .
"$berth" image import \
    --change 'ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' \
    --change 'CMD ["sh"]' \
    "$dir/rootfs.tar" "$ref"
