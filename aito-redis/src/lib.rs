//! aito-redis: the production [`Bus`](aito_core::Bus) and [`StateStore`](aito_core::StateStore)
//! on Redis.
