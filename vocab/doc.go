// Package vocab is flavorflow's shared vocabulary: the words every other
// package uses to talk about a model, kept in one leaf so that dependencies
// only point down to it.
//
//   - The rules for names: registered model names, aliases, experiment names,
//     tag keys and relative artifact paths (MLflow's rules plus ours), each
//     validated here and nowhere else. The CLI, the workflows, the
//     activities, both stores and the URI parser all call these functions.
//   - The tag keys flavorflow writes on MLflow objects (flavorflow.*) and the
//     values some of them take.
//   - The small types several layers carry: the training data a pipeline is
//     started with (TrainingData, Sample) and its inline limit.
//
// vocab imports nothing of flavorflow's but failure, whose codes its errors
// carry; tests/layout_test.go keeps it that way.
package vocab
