# bash completion for dcdctl(8)

_dcdctl_tags()
{
    dcdctl --json pool list 2>/dev/null |
        sed -n 's/.*"tag" *: *"\([0-9a-f-]*\)".*/\1/p'
}

_dcdctl()
{
    local cur prev words cword
    _init_completion || return

    local global="--socket --json --bytes --timeout --help --version"
    local noun="" verb="" i
    for ((i = 1; i < cword; i++)); do
        case ${words[i]} in
        --socket|-s|--timeout|-T) ((i++)) ;;
        -*) ;;
        *)
            if [[ -z $noun ]]; then noun=${words[i]}
            elif [[ -z $verb ]]; then verb=${words[i]}
            fi
            ;;
        esac
    done

    case $prev in
    --socket|-s) _filedir; return ;;
    --tag|-t) COMPREPLY=($(compgen -W "$(_dcdctl_tags)" -- "$cur")); return ;;
    --policy|-p)
        COMPREPLY=($(compgen -W "free contiguous prescriptive enable-shared-access" -- "$cur"))
        return ;;
    --removal) COMPREPLY=($(compgen -W "tag-based prescriptive" -- "$cur")); return ;;
    --backing) COMPREPLY=($(compgen -W "memfd file hugetlb" -- "$cur")); return ;;
    --host|-H|--region|-r|--size|--extent|-e|--timeout|-T|--wait-timeout|--requester)
        return ;;
    esac

    if [[ -z $noun ]]; then
        COMPREPLY=($(compgen -W "status pool host extent monitor $global" -- "$cur"))
        return
    fi
    if [[ -z $verb ]]; then
        case $noun in
        pool) COMPREPLY=($(compgen -W "create list destroy" -- "$cur")); return ;;
        host) COMPREPLY=($(compgen -W "list forget" -- "$cur")); return ;;
        extent) COMPREPLY=($(compgen -W "add release list" -- "$cur")); return ;;
        esac
    fi
    local opts=""
    case "$noun $verb" in
    "pool create") opts="--size --tag --backing --requester" ;;
    "pool list") opts="--tag" ;;
    "pool destroy")
        COMPREPLY=($(compgen -W "$(_dcdctl_tags)" -- "$cur")); return ;;
    "extent add") opts="--host --tag --region --policy --extent --wait --wait-timeout" ;;
    "extent release") opts="--host --tag --region --removal --extent --forced --wait --wait-timeout" ;;
    "extent list") opts="--host --tag --all" ;;
    "host forget") opts="--host" ;;
    esac
    COMPREPLY=($(compgen -W "$opts --help" -- "$cur"))
} && complete -F _dcdctl dcdctl
