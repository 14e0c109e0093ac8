# bash completion for dcd-guest(8)

# The tags the agent lists (tags of accepted and pending extents).
_dcd_guest_tags()
{
    dcd-guest list --json 2>/dev/null |
        grep -o '"tag":"[0-9a-f-]*"' | cut -d'"' -f4 | sort -u
}

_dcd_guest()
{
    local cur prev words cword
    _init_completion || return

    local verbs="watch list accept reject release hold read write sha256"
    local verb="" i
    for ((i = 1; i < cword; i++)); do
        case ${words[i]} in
        -*) ;;
        *) verb=${words[i]}; break ;;
        esac
    done

    case $prev in
    --log) _filedir; return ;;
    --poll-ms|--offset|--length) return ;;
    --accept)
        COMPREPLY=($(compgen -W "all ask $(_dcd_guest_tags)" -- "$cur"))
        return ;;
    esac

    if [[ -z $verb ]]; then
        COMPREPLY=($(compgen -W "$verbs --help --version" -- "$cur"))
        return
    fi
    case $verb in
    watch) COMPREPLY=($(compgen -W "--accept= --poll-ms= --daemon --log" -- "$cur")) ;;
    list) COMPREPLY=($(compgen -W "--json" -- "$cur")) ;;
    accept|reject) COMPREPLY=($(compgen -W "all $(_dcd_guest_tags)" -- "$cur")) ;;
    release) COMPREPLY=($(compgen -W "--wait $(_dcd_guest_tags)" -- "$cur")) ;;
    hold) COMPREPLY=($(compgen -W "$(_dcd_guest_tags) --" -- "$cur")) ;;
    read|sha256)
        COMPREPLY=($(compgen -W "--offset --length $(_dcd_guest_tags)" -- "$cur")) ;;
    write) COMPREPLY=($(compgen -W "--offset $(_dcd_guest_tags)" -- "$cur")) ;;
    esac
} &&
    complete -F _dcd_guest dcd-guest
