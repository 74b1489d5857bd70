//! aito-claude: the production [`LlmSession`](aito_core::LlmSession) and
//! [`WorkerSpawner`](aito_core::WorkerSpawner) over the `claude` CLI.
