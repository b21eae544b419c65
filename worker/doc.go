// Command worker runs flavorflow's Temporal worker: it registers the
// ModelLifecycle workflow and its activities on the task queue from
// temporal-dev.yml and serves /healthz until SIGINT or SIGTERM, then stops
// gracefully, giving running activities worker.stop_timeout to finish or
// hand back.
//
//	worker [--config temporal-dev.yml] [--tracking-uri DIR|URL] [--task-queue Q]
//	       [--address HOST:PORT] [--namespace NS] [--log-format json|text]
package main
