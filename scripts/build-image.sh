#!/usr/bin/env bash
# Builds the trendmaster container image from a given binary, with no base image: nothing is
# pulled from a registry (the machines that build it may have no network at all). The image is
# FROM scratch and holds only what the binary needs to run as the CronJob runs it
# (deploy/kubernetes/cronjob.yaml):
#
#   /usr/local/bin/trendmaster          a stripped copy of BINARY (the entrypoint)
#   the shared libraries `ldd` reports   at the paths it reports, and the dynamic loader
#   /etc/ssl/certs/ca-certificates.crt  for HTTPS to Prometheus and the API server (rustls
#                                       reads the system roots from there)
#   /etc/passwd, /etc/group             root, and the non-root user `nonroot` (65532:65532)
#   /etc/nsswitch.conf                  `hosts: files dns`, so /etc/hosts (hostAliases) wins
#   /var/lib/trendmaster/output         owned by 65532: the CronJob mounts its volume there
#   /home/nonroot, /tmp                 the user's home; /tmp for tools that expect one
#
# It runs as 65532:65532 with the binary as its entrypoint (the CronJob passes only args).
#
#   scripts/build-image.sh BINARY OUTDIR
#   scripts/build-image.sh --rootfs DIR BINARY   (only the files, into DIR: deploy/Dockerfile)
#
# writes OUTDIR/trendmaster-<version>.docker.tar (docker-archive: `podman load`, `docker load`)
# and OUTDIR/trendmaster-<version>.oci.tar (oci-archive: `podman load`, `skopeo copy`), tagged
# IMAGE (default localhost/trendmaster:<version>), and prints the image ID and sizes.
#
# Reproducible: the same binary (and the same host libraries and CA bundle) gives the same image
# ID and byte-identical tarballs. Every file's owner, mode and mtime (SOURCE_DATE_EPOCH, default
# 0) is set here, the layer is written in name order by buildah, and `buildah commit --timestamp`
# pins the image's created time and history; buildah's version label is left out.
#
# Uses Debian's buildah as root with the vfs storage driver (no overlay or FUSE needed) and its
# own storage under ${XDG_CACHE_HOME:-$HOME/.cache}/trendmaster/containers (TRENDMASTER_CONTAINERS
# overrides it), not the system's /var/lib/containers/storage. Idempotent: a rebuild replaces the
# tag and the tarballs, and prunes what the previous build left. scripts/install-test-deps.sh
# installs buildah.
set -euo pipefail

fail() {
    echo "build-image: $*" >&2
    exit 1
}

# Fills the directory $1 with the image's files for the binary $2: every owner, mode and mtime
# set here, so that the layer depends on nothing else.
assemble() {
    local root="$1" binary="$2" library loader
    install -d -m 0755 "$root"
    # The binary, stripped: the symbols and debug info are most of its size (a dev build's ~1 GB).
    install -d "$root/usr/local/bin"
    strip --strip-all -o "$root/usr/local/bin/trendmaster" "$binary"

    # Exactly the libraries `ldd` resolves (`name => /path (addr)`) and the loader (`/path
    # (addr)`, the binary's PT_INTERP), each copied (not the symlink) to the path ldd names,
    # which is where the loader looks for it. linux-vdso has no file.
    local libraries
    mapfile -t libraries < <(ldd "$root/usr/local/bin/trendmaster" |
        awk '$2 == "=>" && $3 ~ /^\// {print $3} $1 ~ /^\// {print $1}' | sort -u)
    [ ${#libraries[@]} -gt 0 ] ||
        fail "ldd reports no libraries for $binary (a static binary needs no loader; not handled)"
    for library in "${libraries[@]}"; do
        install -D -m 0644 "$(readlink -f "$library")" "$root$library"
    done
    loader="$(ldd "$root/usr/local/bin/trendmaster" | awk '$1 ~ /^\// {print $1}')"
    chmod 0755 "$root$loader"

    install -D -m 0644 "$CA_BUNDLE" "$root/etc/ssl/certs/ca-certificates.crt"
    printf 'root:x:0:0:root:/root:/sbin/nologin\nnonroot:x:65532:65532:nonroot:/home/nonroot:/sbin/nologin\n' \
        >"$root/etc/passwd"
    printf 'root:x:0:\nnonroot:x:65532:\n' >"$root/etc/group"
    printf 'passwd: files\ngroup: files\nhosts: files dns\n' >"$root/etc/nsswitch.conf"
    install -d -m 1777 "$root/tmp"
    install -d -m 0755 "$root/var/lib/trendmaster"
    install -d -m 0755 -o 65532 -g 65532 "$root/var/lib/trendmaster/output"
    install -d -m 0700 -o 65532 -g 65532 "$root/home/nonroot"

    # Normalise what the layer records. Owners: root, but for the user's two directories.
    # Modes: 0755 directories (but the three set above), 0644 files (but the binary and the
    # loader). mtimes: EPOCH, set last, directories included (touching a child leaves its
    # parent's mtime); -h: a symlink's own time. The layer's root directory too.
    chmod 0755 "$root"
    find "$root" -mindepth 1 -type d ! -path "$root/tmp" ! -path "$root/home/nonroot" \
        -exec chmod 0755 {} +
    chmod 0755 "$root/usr/local/bin/trendmaster"
    find "$root" ! -path "$root/var/lib/trendmaster/output" ! -path "$root/home/nonroot" \
        -exec chown -h 0:0 {} +
    find "$root" -exec touch -h -d "@$EPOCH" {} +
}

EPOCH="${SOURCE_DATE_EPOCH:-0}"
CA_BUNDLE="${CA_BUNDLE:-/etc/ssl/certs/ca-certificates.crt}"

# `--rootfs DIR BINARY`: only the files, into DIR (deploy/Dockerfile's build stage: the same
# layout where an image is built with docker from a registry's base images).
if [ $# -eq 3 ] && [ "$1" = --rootfs ]; then
    [ -f "$3" ] && [ -x "$3" ] || fail "$3 is not an executable file"
    [ -f "$CA_BUNDLE" ] || fail "$CA_BUNDLE is missing (apt-get install ca-certificates)"
    [ ! -e "$2" ] || [ -z "$(ls -A "$2")" ] || fail "$2 exists and is not empty"
    assemble "$2" "$3"
    exit 0
fi

[ $# -eq 2 ] || fail "usage: $0 BINARY OUTDIR  (or: $0 --rootfs DIR BINARY)"
BINARY="$1"
OUTDIR="$2"
[ -f "$BINARY" ] && [ -x "$BINARY" ] || fail "$BINARY is not an executable file"
for tool in buildah ldd strip tar; do
    command -v "$tool" >/dev/null 2>&1 ||
        fail "$tool is missing (scripts/install-test-deps.sh installs buildah)"
done
[ -f "$CA_BUNDLE" ] || fail "$CA_BUNDLE is missing (apt-get install ca-certificates)"
STORE="${TRENDMASTER_CONTAINERS:-${XDG_CACHE_HOME:-$HOME/.cache}/trendmaster/containers}"

# `trendmaster 0.1.0` → 0.1.0: the binary says which version it is.
VERSION="$("$BINARY" --version | awk '{print $2}')"
[ -n "$VERSION" ] || fail "$BINARY --version printed no version"
IMAGE="${IMAGE:-localhost/trendmaster:$VERSION}"
# A container name of our own, so that a build interrupted earlier is found and removed.
CONTAINER=trendmaster-image-build

# Our storage only: --root/--runroot keep buildah's images, layers and locks away from
# /var/lib/containers and /run/containers; vfs needs neither overlayfs nor fuse-overlayfs.
# (containers/image still keeps its blob-info cache, a 64 KB digest index, in
# /var/lib/containers/cache when run as root: neither buildah nor podman has a flag for it.)
mkdir -p "$STORE"
buildah_() {
    buildah --root "$STORE/storage" --runroot "$STORE/run" --storage-driver vfs "$@"
}

started=$(date +%s.%N)
WORK="$(mktemp -d)"
cleanup() {
    buildah_ rm "$CONTAINER" >/dev/null 2>&1 || true
    rm -rf "$WORK"
}
trap cleanup EXIT
buildah_ rm "$CONTAINER" >/dev/null 2>&1 || true

buildah_ from --name "$CONTAINER" scratch >/dev/null
ROOT="$(buildah_ mount "$CONTAINER")"
assemble "$ROOT" "$BINARY"
UNCOMPRESSED=$(du -sb --apparent-size "$ROOT" | cut -f1)
buildah_ umount "$CONTAINER" >/dev/null

# The image configuration: the CronJob sets only args, so the binary is the entrypoint and the
# command empty; the user by number (Kubernetes' runAsNonRoot checks a numeric user).
buildah_ config \
    --os linux --arch "$(uname -m | sed 's/x86_64/amd64/; s/aarch64/arm64/')" \
    --entrypoint '["/usr/local/bin/trendmaster"]' --cmd '' \
    --user 65532:65532 --workingdir / \
    --env PATH=/usr/local/bin \
    --label org.opencontainers.image.title=trendmaster \
    --label "org.opencontainers.image.version=$VERSION" \
    --label org.opencontainers.image.description="Envoy rate-limit ConfigMaps from Prometheus traffic history" \
    --created-by "scripts/build-image.sh" \
    "$CONTAINER"

# OCI format: the docker format would record buildah's random container ID in the configuration
# (`container`), so no two builds would share an ID. Both archives carry this configuration blob
# unchanged, so the ID that `podman load` reports for either is the one printed here.
# --timestamp pins `created` and the history; --identity-label=false leaves out
# io.buildah.version, which would change the ID with buildah's version.
IMAGE_ID="$(buildah_ commit --quiet --rm --format oci --timestamp "$EPOCH" \
    --identity-label=false "$CONTAINER" "$IMAGE")"
# An earlier build of another binary leaves its image untagged: remove it.
buildah_ rmi --prune >/dev/null 2>&1 || true

# docker-archive refuses to add to an existing file: write beside, then rename. The docker-archive
# is written with fixed names and times already; the OCI layout is written to a directory and
# archived here in name order with fixed owners and times (buildah's oci-archive would record
# the time of the push).
mkdir -p "$OUTDIR"
BASE="$OUTDIR/trendmaster-$VERSION"
rm -f "$BASE.docker.tar.partial" "$BASE.oci.tar.partial"
buildah_ push --quiet "$IMAGE" "docker-archive:$BASE.docker.tar.partial:$IMAGE" >/dev/null
buildah_ push --quiet "$IMAGE" "oci:$WORK/oci:$IMAGE" >/dev/null
tar --sort=name --mtime="@$EPOCH" --owner=0 --group=0 --numeric-owner --mode=a+rX,u+w,go-w \
    -C "$WORK/oci" -cf "$BASE.oci.tar.partial" .
mv -f "$BASE.docker.tar.partial" "$BASE.docker.tar"
mv -f "$BASE.oci.tar.partial" "$BASE.oci.tar"

# Compressed: the oci-archive's layer is gzip, as a registry stores and sends it.
COMPRESSED=$(stat -c %s "$BASE.oci.tar")
finished=$(date +%s.%N)
mb() { awk -v b="$1" 'BEGIN {printf "%.1f MB", b / 1e6}'; }
echo "image: $IMAGE"
echo "id: $IMAGE_ID"
echo "size: $(mb "$UNCOMPRESSED") uncompressed ($UNCOMPRESSED bytes), $(mb "$COMPRESSED") compressed ($COMPRESSED bytes)"
echo "docker-archive: $BASE.docker.tar ($(stat -c %s "$BASE.docker.tar") bytes, layer uncompressed)"
echo "oci-archive: $BASE.oci.tar ($COMPRESSED bytes, layer gzip)"
echo "built in $(awk -v a="$started" -v b="$finished" 'BEGIN {printf "%.1f s", b - a}')"
