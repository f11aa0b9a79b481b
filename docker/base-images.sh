#!/usr/bin/env bash
# For a machine that cannot pull images: makes the two base images
# docker/Dockerfile names, from Debian's packages and this machine's Rust
# toolchain, with podman (Debian package; run as root):
#   docker.io/library/debian:bookworm-slim   debootstrap --variant=minbase bookworm
#   docker.io/library/rust:1.95-slim-bookworm  that + the host's stable toolchain in /usr/local
#   bash docker/base-images.sh [MIRROR]        (default http://deb.debian.org/debian)
set -euo pipefail
mirror=${1:-http://deb.debian.org/debian}
work=${SORI_IMAGE_WORK:-/var/tmp/sori-images}
mkdir -p "$work"
if ! podman image exists docker.io/library/debian:bookworm-slim; then
  rm -rf "$work/bookworm"
  debootstrap --variant=minbase bookworm "$work/bookworm" "$mirror"
  # Same sources as the mirror used; apt in the image works like on the host.
  echo "deb $mirror bookworm main" > "$work/bookworm/etc/apt/sources.list"
  tar -C "$work/bookworm" -c . | podman import --change 'CMD ["/bin/bash"]' - docker.io/library/debian:bookworm-slim
fi
if ! podman image exists docker.io/library/rust:1.95-slim-bookworm; then
  toolchain=$(rustc --print sysroot)
  rustc --version | grep -q '^rustc 1\.95\.' || echo "note: the host toolchain is $(rustc --version), not 1.95" >&2
  ctx=$(mktemp -d "$work/rust.XXXXXX")
  cp -a "$toolchain" "$ctx/toolchain"
  cat > "$ctx/Containerfile" <<'CF'
FROM docker.io/library/debian:bookworm-slim
COPY toolchain /usr/local/rust
ENV CARGO_HOME=/usr/local/cargo PATH=/usr/local/cargo/bin:/usr/local/rust/bin:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin
RUN mkdir -p /usr/local/cargo/bin && cargo --version && rustc --version
CF
  podman build --network host -t docker.io/library/rust:1.95-slim-bookworm "$ctx"
  rm -rf "$ctx"
fi
podman images --format '{{.Repository}}:{{.Tag}} {{.Size}}' | grep -E 'library/(debian|rust)'
