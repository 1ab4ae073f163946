//! The engine: observe state, reconcile it with the project into a plan, execute the plan.

pub mod autostart;
pub mod config;
pub mod container;
pub mod desired;
pub mod exec;
pub mod execute;
pub mod images;
pub mod labels;
pub mod logs;
pub mod machine;
pub mod observed;
pub mod oneoff;
pub mod plan;
pub mod project_view;
pub mod readiness;
pub mod reconcile;
pub mod resources;
pub mod resume;
pub mod startup;
pub mod state;
pub mod unsupported;
