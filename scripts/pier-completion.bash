# bash completion for pier — installed by `make install` to
# /usr/share/bash-completion/completions/pier; or: source scripts/pier-completion.bash
# Names of collections, tasks and runs come from `pier __complete` (the server
# the CLI is configured for; nothing is printed when it cannot be reached).

_pier_complete_names() {
    # $1 kind (collections|tasks|trajectories), $2 argument
    command pier __complete "$1" ${2:+"$2"} 2>/dev/null
}

_pier() {
    local cur prev words cword
    if declare -F _init_completion >/dev/null 2>&1; then
        _init_completion -n : || return
    else
        cur="${COMP_WORDS[COMP_CWORD]}"
        prev="${COMP_WORDS[COMP_CWORD-1]}"
        words=("${COMP_WORDS[@]}")
        cword=$COMP_CWORD
    fi

    local commands="login logout collections api-keys env tasks run trajectories chat doctor serve help version"
    local global_opts="--url --token --json --no-color --help"

    # the command and its verb, skipping leading options
    local i cmd="" verb="" nargs=0
    for ((i = 1; i < cword; i++)); do
        case "${words[i]}" in
            --url|--token|-p|--param|--params-file|-f|--file|-o|--output|-m|--model|-n|--name|--limit|--page|\
            --description|-d|--provider|--system|-c|--collection|--max-tokens|--temperature)
                ((i++)); continue ;;
            -*) continue ;;
        esac
        if [[ -z $cmd ]]; then cmd="${words[i]}"
        elif [[ -z $verb ]]; then verb="${words[i]}"
        else ((nargs++)); fi
    done

    case "$prev" in
        --file|-f|--params-file|-o|--output) COMPREPLY=($(compgen -f -- "$cur")); return ;;
        --url|--token|-p|--param|-m|--model|-n|--name|--limit|--page|--description|-d|--system|--max-tokens|--temperature)
            return ;;
        --provider)
            COMPREPLY=($(compgen -W "bedrock openai anthropic gemini openrouter groq mistral deepseek xai together_ai fireworks_ai hosted_vllm ollama" -- "$cur"))
            return ;;
        -c|--collection) COMPREPLY=($(compgen -W "$(_pier_complete_names collections)" -- "$cur")); return ;;
    esac

    if [[ -z $cmd ]]; then
        COMPREPLY=($(compgen -W "$commands $global_opts" -- "$cur"))
        return
    fi

    local verbs="" opts=""
    case "$cmd" in
        collections|collection) verbs="list create delete"; opts="--description --yes" ;;
        api-keys|api-key|keys) verbs="create list revoke"; opts="--name --delete" ;;
        env) verbs="list set unset" ;;
        tasks|task) verbs="list get put delete"; opts="--file --description" ;;
        trajectories|trajectory|traj) verbs="list show follow cancel download"; opts="--limit --page --output" ;;
        run) opts="--param --params-file --file --sync --follow" ;;
        chat) opts="--provider --system --collection --max-tokens --temperature" ;;
        doctor) opts="--model" ;;
        login) opts="--no-verify" ;;
        help) COMPREPLY=($(compgen -W "$commands" -- "$cur")); return ;;
        serve) COMPREPLY=($(compgen -W "--help" -- "$cur")); return ;;
    esac

    if [[ $cur == -* ]]; then
        COMPREPLY=($(compgen -W "$opts $global_opts" -- "$cur"))
        return
    fi
    # verb position: verbs of the group, or the first argument of a one-word command
    if [[ -n $verbs && -z $verb ]]; then
        COMPREPLY=($(compgen -W "$verbs" -- "$cur"))
        return
    fi
    local first=0
    if [[ -n $verbs ]]; then [[ $nargs -eq 0 ]] && first=1; else [[ -z $verb ]] && first=1; fi
    [[ $first -eq 1 ]] || return

    case "$cmd" in
        collections|collection|api-keys|api-key|keys|env|doctor)
            [[ $cmd == collections || $cmd == collection ]] && [[ $verb != delete ]] && return
            COMPREPLY=($(compgen -W "$(_pier_complete_names collections)" -- "$cur")) ;;
        tasks|task|run|trajectories|trajectory|traj)
            if [[ $cmd == tasks || $cmd == task ]] && [[ $verb == list ]]; then
                COMPREPLY=($(compgen -W "$(_pier_complete_names collections)" -- "$cur"))
                return
            fi
            if [[ $cur == */*/* ]] || { [[ $cur == */* ]] && [[ $cmd == traj* ]] && [[ $verb != list ]]; }; then
                if [[ $cur == */*/* ]]; then
                    local ct="${cur%/*}" ids
                    ids=$(_pier_complete_names trajectories "$ct")
                    COMPREPLY=($(compgen -P "$ct/" -W "$ids" -- "${cur##*/}"))
                else
                    local c="${cur%%/*}" names
                    names=$(_pier_complete_names tasks "$c")
                    COMPREPLY=($(compgen -P "$c/" -S / -W "$names" -- "${cur#*/}"))
                    compopt -o nospace 2>/dev/null
                fi
            elif [[ $cur == */* ]]; then
                local c="${cur%%/*}" names
                names=$(_pier_complete_names tasks "$c")
                COMPREPLY=($(compgen -P "$c/" -W "$names" -- "${cur#*/}"))
            else
                COMPREPLY=($(compgen -S / -W "$(_pier_complete_names collections)" -- "$cur"))
                compopt -o nospace 2>/dev/null
            fi ;;
    esac
}

complete -F _pier pier
