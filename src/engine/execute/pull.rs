//! Pulling a service image during `up`.

use super::Progress;
use super::ops::Context;
use anyhow::Context as _;
use berth_runtime::image::Reference;
use berth_runtime::image::pull::{PullOptions, pull};
use berth_runtime::image::registry::RegistryConfig;

/// Pulls `image` for `services`, reported as Docker Compose does (`Image <ref> Pulling`).
pub async fn pull_image(
    ctx: &Context,
    image: &str,
    services: &[String],
    progress: &dyn Progress,
) -> anyhow::Result<()> {
    let owner = format!("Image {image}");
    let reference = Reference::parse(image)
        .with_context(|| format!("service {:?}: invalid image {image:?}", services.join(", ")))?;
    let options = PullOptions {
        registry_config: RegistryConfig::load()?,
        ..PullOptions::default()
    };
    progress.status(&owner, "Pulling", false);
    match pull(&ctx.machine.images, &reference, &options, &|_| {}).await {
        Ok(_) => {
            progress.status(&owner, "Pulled", true);
            Ok(())
        }
        Err(e) => {
            progress.status(&owner, "Error", true);
            Err(anyhow::Error::from(e).context(format!(
                "cannot pull image {image} for service {}",
                services.join(", ")
            )))
        }
    }
}
