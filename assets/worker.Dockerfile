# drover worker image: where agents' tools and the project's tests run.
#
# BASE is either the offline base drover builds from Debian packages (which already has
# every tool below) or a registry image such as debian:bookworm-slim (then the tools are
# installed here). drover tags the result by a hash of this recipe.
ARG BASE=debian:bookworm-slim
FROM ${BASE}

ENV DEBIAN_FRONTEND=noninteractive
RUN set -e; need=""; \
    for t in bash git rg python3 pip3 make gcc patch diff less ps file socat curl; do \
      command -v "$t" >/dev/null 2>&1 || need=1; \
    done; \
    python3 -c 'import ensurepip, venv' >/dev/null 2>&1 || need=1; \
    if [ -n "$need" ]; then \
      apt-get update && apt-get install -y --no-install-recommends \
        bash ca-certificates coreutils findutils grep sed gawk diffutils patch procps less \
        git ripgrep python3 python3-pytest python3-pip python3-venv build-essential tini file xz-utils \
        socat curl \
      && rm -rf /var/lib/apt/lists/*; \
    fi

# Workers run as the host user's uid, which has no passwd entry and owns /workspace:
# git must trust any directory, never page, never prompt.
RUN printf '[safe]\n\tdirectory = *\n[user]\n\tname = drover agent\n\temail = agent@drover.invalid\n[core]\n\tpager = cat\n[init]\n\tdefaultBranch = main\n' > /etc/gitconfig \
    && mkdir -p /workspace && chmod 1777 /workspace

ENV HOME=/tmp \
    GIT_PAGER=cat \
    PAGER=cat \
    GIT_EDITOR=true \
    EDITOR=true \
    GIT_TERMINAL_PROMPT=0 \
    PYTHONDONTWRITEBYTECODE=1 \
    LANG=C.UTF-8

WORKDIR /workspace
LABEL drover.image=worker
CMD ["sleep", "infinity"]
