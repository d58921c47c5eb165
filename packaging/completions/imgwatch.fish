# Print an optspec for argparse to handle cmd's options that are independent of any subcommand.
function __fish_imgwatch_global_optspecs
    string join \n config= v/verbose q/quiet h/help V/version
end

function __fish_imgwatch_needs_command
    # Figure out if the current invocation already has a command.
    set -l cmd (commandline -opc)
    set -e cmd[1]
    argparse -s (__fish_imgwatch_global_optspecs) -- $cmd 2>/dev/null
    or return
    if set -q argv[1]
        # Also print the command, so this can be used to figure out what it is.
        echo $argv[1]
        return 1
    end
    return 0
end

function __fish_imgwatch_using_subcommand
    set -l cmd (__fish_imgwatch_needs_command)
    test -z "$cmd"
    and return 1
    contains -- $cmd[1] $argv
end

complete -c imgwatch -n "__fish_imgwatch_needs_command" -l config -d 'Configuration file (default: $IMGWATCH_CONFIG, $CONFIGURATION_DIRECTORY/config.toml, /etc/imgwatch/config.toml, then the user config directory)' -r -F
complete -c imgwatch -n "__fish_imgwatch_needs_command" -s v -l verbose -d 'More log output on stderr (-v debug, -vv trace)'
complete -c imgwatch -n "__fish_imgwatch_needs_command" -s q -l quiet -d 'Only warnings and errors on stderr'
complete -c imgwatch -n "__fish_imgwatch_needs_command" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c imgwatch -n "__fish_imgwatch_needs_command" -s V -l version -d 'Print version'
complete -c imgwatch -n "__fish_imgwatch_needs_command" -f -a "check" -d 'Find which runtime images moved; optionally pull them and recreate their containers'
complete -c imgwatch -n "__fish_imgwatch_needs_command" -f -a "status" -d 'Show what the state file holds for each runtime'
complete -c imgwatch -n "__fish_imgwatch_needs_command" -f -a "digest" -d 'Print the registry digest of one image reference'
complete -c imgwatch -n "__fish_imgwatch_needs_command" -f -a "forget" -d 'Drop state entries so the next run seeds them again'
complete -c imgwatch -n "__fish_imgwatch_needs_command" -f -a "completions" -d 'Print shell completions'
complete -c imgwatch -n "__fish_imgwatch_needs_command" -f -a "help" -d 'Print this message or the help of the given subcommand(s)'
complete -c imgwatch -n "__fish_imgwatch_using_subcommand check" -l runtime -d 'Only check this runtime (repeatable)' -r
complete -c imgwatch -n "__fish_imgwatch_using_subcommand check" -l state -d 'State file (default: $IMGWATCH_STATE, the `state` key, $STATE_DIRECTORY/state.json, then the user state directory)' -r -F
complete -c imgwatch -n "__fish_imgwatch_using_subcommand check" -l wait -d 'How long to wait for another run\'s lock before giving up with exit status 75' -r
complete -c imgwatch -n "__fish_imgwatch_using_subcommand check" -l strategy -d 'How moved runtimes\' containers are refreshed (overrides the `strategy` key)' -r -f -a "recreate\t'Replace each container with one made from the new image, same settings'
remove\t'Stop and remove the containers so an orchestrator re-provisions them'"
complete -c imgwatch -n "__fish_imgwatch_using_subcommand check" -l metrics-file -d 'Write Prometheus metrics to this file after the run (the `metrics_file` key)' -r -F
complete -c imgwatch -n "__fish_imgwatch_using_subcommand check" -l config -d 'Configuration file (default: $IMGWATCH_CONFIG, $CONFIGURATION_DIRECTORY/config.toml, /etc/imgwatch/config.toml, then the user config directory)' -r -F
complete -c imgwatch -n "__fish_imgwatch_using_subcommand check" -l pull -d 'Pull the image of every runtime whose digest moved'
complete -c imgwatch -n "__fish_imgwatch_using_subcommand check" -l recreate -d 'Pull moved images and recreate the containers of their runtimes'
complete -c imgwatch -n "__fish_imgwatch_using_subcommand check" -l dry-run -d 'Report what would happen; change neither the state nor the engine'
complete -c imgwatch -n "__fish_imgwatch_using_subcommand check" -l json -d 'Print the report as one JSON object'
complete -c imgwatch -n "__fish_imgwatch_using_subcommand check" -l force -d 'Retry a digest whose rollout failed now, without waiting for its backoff'
complete -c imgwatch -n "__fish_imgwatch_using_subcommand check" -l cleanup -d 'Remove the previous image once no container uses it (the `cleanup` key)'
complete -c imgwatch -n "__fish_imgwatch_using_subcommand check" -s v -l verbose -d 'More log output on stderr (-v debug, -vv trace)'
complete -c imgwatch -n "__fish_imgwatch_using_subcommand check" -s q -l quiet -d 'Only warnings and errors on stderr'
complete -c imgwatch -n "__fish_imgwatch_using_subcommand check" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c imgwatch -n "__fish_imgwatch_using_subcommand check" -s V -l version -d 'Print version'
complete -c imgwatch -n "__fish_imgwatch_using_subcommand status" -l state -d 'State file (see `check --state`)' -r -F
complete -c imgwatch -n "__fish_imgwatch_using_subcommand status" -l config -d 'Configuration file (default: $IMGWATCH_CONFIG, $CONFIGURATION_DIRECTORY/config.toml, /etc/imgwatch/config.toml, then the user config directory)' -r -F
complete -c imgwatch -n "__fish_imgwatch_using_subcommand status" -l json -d 'Print the state as JSON'
complete -c imgwatch -n "__fish_imgwatch_using_subcommand status" -s v -l verbose -d 'More log output on stderr (-v debug, -vv trace)'
complete -c imgwatch -n "__fish_imgwatch_using_subcommand status" -s q -l quiet -d 'Only warnings and errors on stderr'
complete -c imgwatch -n "__fish_imgwatch_using_subcommand status" -s h -l help -d 'Print help'
complete -c imgwatch -n "__fish_imgwatch_using_subcommand status" -s V -l version -d 'Print version'
complete -c imgwatch -n "__fish_imgwatch_using_subcommand digest" -l platform -d 'Print the digest of this platform\'s manifest instead of the tag\'s own digest' -r
complete -c imgwatch -n "__fish_imgwatch_using_subcommand digest" -l config -d 'Configuration file (default: $IMGWATCH_CONFIG, $CONFIGURATION_DIRECTORY/config.toml, /etc/imgwatch/config.toml, then the user config directory)' -r -F
complete -c imgwatch -n "__fish_imgwatch_using_subcommand digest" -s v -l verbose -d 'More log output on stderr (-v debug, -vv trace)'
complete -c imgwatch -n "__fish_imgwatch_using_subcommand digest" -s q -l quiet -d 'Only warnings and errors on stderr'
complete -c imgwatch -n "__fish_imgwatch_using_subcommand digest" -s h -l help -d 'Print help'
complete -c imgwatch -n "__fish_imgwatch_using_subcommand digest" -s V -l version -d 'Print version'
complete -c imgwatch -n "__fish_imgwatch_using_subcommand forget" -l state -d 'State file (see `check --state`)' -r -F
complete -c imgwatch -n "__fish_imgwatch_using_subcommand forget" -l wait -d 'How long to wait for a running check\'s lock' -r
complete -c imgwatch -n "__fish_imgwatch_using_subcommand forget" -l config -d 'Configuration file (default: $IMGWATCH_CONFIG, $CONFIGURATION_DIRECTORY/config.toml, /etc/imgwatch/config.toml, then the user config directory)' -r -F
complete -c imgwatch -n "__fish_imgwatch_using_subcommand forget" -l all -d 'Drop every entry'
complete -c imgwatch -n "__fish_imgwatch_using_subcommand forget" -s v -l verbose -d 'More log output on stderr (-v debug, -vv trace)'
complete -c imgwatch -n "__fish_imgwatch_using_subcommand forget" -s q -l quiet -d 'Only warnings and errors on stderr'
complete -c imgwatch -n "__fish_imgwatch_using_subcommand forget" -s h -l help -d 'Print help'
complete -c imgwatch -n "__fish_imgwatch_using_subcommand forget" -s V -l version -d 'Print version'
complete -c imgwatch -n "__fish_imgwatch_using_subcommand completions" -l config -d 'Configuration file (default: $IMGWATCH_CONFIG, $CONFIGURATION_DIRECTORY/config.toml, /etc/imgwatch/config.toml, then the user config directory)' -r -F
complete -c imgwatch -n "__fish_imgwatch_using_subcommand completions" -s v -l verbose -d 'More log output on stderr (-v debug, -vv trace)'
complete -c imgwatch -n "__fish_imgwatch_using_subcommand completions" -s q -l quiet -d 'Only warnings and errors on stderr'
complete -c imgwatch -n "__fish_imgwatch_using_subcommand completions" -s h -l help -d 'Print help'
complete -c imgwatch -n "__fish_imgwatch_using_subcommand completions" -s V -l version -d 'Print version'
complete -c imgwatch -n "__fish_imgwatch_using_subcommand help; and not __fish_seen_subcommand_from check status digest forget completions help" -f -a "check" -d 'Find which runtime images moved; optionally pull them and recreate their containers'
complete -c imgwatch -n "__fish_imgwatch_using_subcommand help; and not __fish_seen_subcommand_from check status digest forget completions help" -f -a "status" -d 'Show what the state file holds for each runtime'
complete -c imgwatch -n "__fish_imgwatch_using_subcommand help; and not __fish_seen_subcommand_from check status digest forget completions help" -f -a "digest" -d 'Print the registry digest of one image reference'
complete -c imgwatch -n "__fish_imgwatch_using_subcommand help; and not __fish_seen_subcommand_from check status digest forget completions help" -f -a "forget" -d 'Drop state entries so the next run seeds them again'
complete -c imgwatch -n "__fish_imgwatch_using_subcommand help; and not __fish_seen_subcommand_from check status digest forget completions help" -f -a "completions" -d 'Print shell completions'
complete -c imgwatch -n "__fish_imgwatch_using_subcommand help; and not __fish_seen_subcommand_from check status digest forget completions help" -f -a "help" -d 'Print this message or the help of the given subcommand(s)'
