//! Which PKCS#11 modules a run uses: the one the command line named, and every
//! module loaded so far, held until the run ends so that each is initialised
//! once and finalised once. One [`Registry`] is made in `main` and passed down
//! to whatever reaches a token.

use super::{Module, Pkcs11Uri, resolve_module_path};
use crate::tokens::TokenError;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

/// The PKCS#11 modules of one run.
#[derive(Debug, Default)]
pub struct Registry {
    /// The module named by `--module` / `CEREMONY_PKCS11_MODULE`.
    explicit: Option<PathBuf>,
    /// Modules loaded so far, finalised when the registry is dropped (signers
    /// still alive keep theirs).
    held: Mutex<Vec<Arc<Module>>>,
}

impl Registry {
    pub fn new(explicit: Option<PathBuf>) -> Self {
        Registry {
            explicit,
            held: Mutex::new(Vec::new()),
        }
    }

    /// The module the command line named, if any.
    pub fn explicit(&self) -> Option<&Path> {
        self.explicit.as_deref()
    }

    /// The loaded module for `uri` (or the configured/default one).
    pub fn module_for(&self, uri: Option<&Pkcs11Uri>) -> Result<Arc<Module>, TokenError> {
        let path = resolve_module_path(self.explicit(), uri)?;
        self.load(&path)
    }

    /// Load the module at `path` and hold it until the run ends.
    pub fn load(&self, path: &Path) -> Result<Arc<Module>, TokenError> {
        let module = Module::load(path)?;
        let mut held = self.held.lock().unwrap_or_else(|p| p.into_inner());
        if !held.iter().any(|m| Arc::ptr_eq(m, &module)) {
            held.push(Arc::clone(&module));
        }
        Ok(module)
    }
}
