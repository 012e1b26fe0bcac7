# Sourced by the integration scripts: within SECONDS CMD... runs CMD until it succeeds, for at most
# SECONDS (checking ten times a second); fails if it never does.
within() {
    limit=$1
    shift
    end=$(($(date +%s) + limit))
    until "$@"; do
        [ "$(date +%s)" -lt "$end" ] || return 1
        sleep 0.1
    done
}
