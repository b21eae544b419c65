// Command starter is flavorflow's CLI: it starts and watches model
// lifecycle pipelines on Temporal and reads models back.
//
//	starter run --model NAME (--data FILE | --pairs "x,y;x,y") [--alias champion] [--no-wait]
//	starter predict MODEL_URI X...      load a model (models:/..., runs:/..., a dir) and predict
//	starter devserver-args              the `temporal` arguments for the configured dev server
//	starter help COMMAND                a command's flags and examples
//	starter completion bash|zsh|fish    shell completion
//
// The command tree is cobra's (as the Temporal CLI's): flags go before or
// after positional arguments, and the flags every command takes (--config,
// --output text|json or --json, --address, --namespace, --profile,
// --tracking-uri, --log-level) are the root's persistent flags; the setting
// flags come from the settings table in package config. Exit codes: 0
// success, 1 the pipeline failed, 2 bad usage or input, 3 a server could not
// be reached or no result yet.
package main
