// Command starter is flavorflow's CLI: it starts and watches model
// lifecycle pipelines on Temporal and reads models back.
//
//	starter run --model NAME (--data FILE | --pairs "x,y;x,y") [--alias champion] [--no-wait]
//	starter predict MODEL_URI X...      load a model (models:/..., runs:/..., a dir) and predict
//	starter devserver-args              the `temporal` arguments for the configured dev server
//
// Every command takes --config, --output text|json. Exit codes: 0 success,
// 1 the pipeline failed, 2 bad usage or input, 3 a server could not be
// reached.
package main
