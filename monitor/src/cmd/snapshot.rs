//! `ipctop snapshot`: placeholder until the object-model work lands.
#[derive(Debug, clap::Args)]
pub struct SnapshotArgs {
    /// Print JSON (schema_version 1) instead of tables.
    #[arg(long)]
    pub json: bool,
}

pub fn run(_args: SnapshotArgs) -> anyhow::Result<u8> {
    anyhow::bail!("ipctop snapshot is not implemented yet")
}
