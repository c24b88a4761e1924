//! Which PKCS#11 modules a run uses: the one the command line named, and every
//! module loaded so far, held until the run ends so that each is initialised
//! once and finalised once.

use super::{Module, Pkcs11Uri, resolve_module_path};
use crate::tokens::TokenError;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};

/// The module named by `--module` / `CEREMONY_PKCS11_MODULE` for this run.
static MODULE_ARG: Mutex<Option<PathBuf>> = Mutex::new(None);
/// Modules loaded during this run, held until it ends so that each is
/// initialised once and finalised once.
static HELD: Mutex<Vec<Arc<Module>>> = Mutex::new(Vec::new());

/// Remember the module the command line named (called once per run).
pub fn set_module_arg(path: Option<PathBuf>) {
    *MODULE_ARG.lock().unwrap_or_else(|p| p.into_inner()) = path;
}

/// Finalise every module this run loaded (signers still alive keep theirs).
pub fn release_modules() {
    HELD.lock().unwrap_or_else(|p| p.into_inner()).clear();
}

/// The module the command line named, if any.
pub fn module_arg() -> Option<PathBuf> {
    MODULE_ARG.lock().unwrap_or_else(|p| p.into_inner()).clone()
}

/// The loaded module for `uri` (or the configured/default one).
pub fn module_for(uri: Option<&Pkcs11Uri>) -> Result<Arc<Module>, TokenError> {
    let path = resolve_module_path(module_arg().as_deref(), uri)?;
    let module = Module::load(&path)?;
    let mut held = HELD.lock().unwrap_or_else(|p| p.into_inner());
    if !held.iter().any(|m| Arc::ptr_eq(m, &module)) {
        held.push(Arc::clone(&module));
    }
    Ok(module)
}

/// Load the module at `path` and hold it until the run ends.
pub fn load_held(path: &std::path::Path) -> Result<Arc<Module>, TokenError> {
    let module = Module::load(path)?;
    HELD.lock()
        .unwrap_or_else(|p| p.into_inner())
        .push(Arc::clone(&module));
    Ok(module)
}
