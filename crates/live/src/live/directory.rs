//! The directory of live rooms: how a request finds a room's task, and reads the room's latest snapshot
//! without asking the task.

use crate::live::input::RoomInput;
use std::collections::HashMap;
use std::sync::{Arc, RwLock};
use stoa_proto::{RoomId, RoomInfo};
use stoa_room::Access;
use tokio::sync::{mpsc, watch};

/// What a room's task last published: enough for the hallway and `GET /rooms/{id}` to answer without a
/// round trip to the task.
#[derive(Debug, Clone)]
pub struct Snapshot {
    /// The room as the API shows it.
    pub info: RoomInfo,
    /// Who may see it.
    pub access: Access,
}

impl Snapshot {
    /// Who may hear of the room `id`: for a notification about it, each reader is checked against this.
    pub fn audience(&self, id: &RoomId) -> stoa_store::RoomAudience {
        stoa_store::RoomAudience {
            room: id.clone(),
            title: self.info.title.clone(),
            visibility: self.access.visibility,
            moderators: self.access.moderators.clone(),
            invited: self.access.invited.iter().copied().collect(),
            removed: self.access.removed.iter().copied().collect(),
            club: self.access.club,
        }
    }
}

/// A way to reach one live room.
#[derive(Debug, Clone)]
pub struct RoomHandle {
    /// The room task's inbox.
    pub tx: mpsc::Sender<RoomInput>,
    /// The room's latest snapshot.
    pub snapshot: watch::Receiver<Arc<Snapshot>>,
    /// The room's egress (its mix, ring, HLS and restream); absent if its thread could not start, or the
    /// room is remote.
    pub egress: Option<stoa_egress::RoomEgress>,
    /// Whether another node of the cluster runs the room (`tx` then reaches this node's relay to it).
    pub remote: bool,
}

/// Live rooms by ID. The lock guards only the map (a room added, ended or looked up), never a room's state,
/// and is never held across an await.
#[derive(Debug, Default, Clone)]
pub struct Directory {
    rooms: Arc<RwLock<HashMap<RoomId, RoomHandle>>>,
}

impl Directory {
    /// Adds a live room.
    pub fn insert(&self, id: RoomId, handle: RoomHandle) {
        self.rooms.write().unwrap_or_else(|e| e.into_inner()).insert(id, handle);
    }

    /// Removes a room that ended.
    pub fn remove(&self, id: &RoomId) {
        self.rooms.write().unwrap_or_else(|e| e.into_inner()).remove(id);
    }

    /// Removes a room if its entry is still the one `which` picks (a remote entry must not take a local
    /// room out, nor the reverse).
    pub fn remove_if(&self, id: &RoomId, which: impl Fn(&RoomHandle) -> bool) {
        let mut rooms = self.rooms.write().unwrap_or_else(|e| e.into_inner());
        if rooms.get(id).is_some_and(which) {
            rooms.remove(id);
        }
    }

    /// Every live room's ID and handle.
    pub fn handles_with_ids(&self) -> Vec<(RoomId, RoomHandle)> {
        self.rooms.read().unwrap_or_else(|e| e.into_inner()).iter().map(|(k, v)| (k.clone(), v.clone())).collect()
    }

    /// How many live rooms this node runs itself.
    pub fn local_len(&self) -> usize {
        self.rooms.read().unwrap_or_else(|e| e.into_inner()).values().filter(|h| !h.remote).count()
    }

    /// A live room by ID.
    pub fn get(&self, id: &RoomId) -> Option<RoomHandle> {
        self.rooms.read().unwrap_or_else(|e| e.into_inner()).get(id).cloned()
    }

    /// Every live room's handle.
    pub fn handles(&self) -> Vec<RoomHandle> {
        self.rooms.read().unwrap_or_else(|e| e.into_inner()).values().cloned().collect()
    }

    /// Every live room's latest snapshot.
    pub fn snapshots(&self) -> Vec<Arc<Snapshot>> {
        self.rooms.read().unwrap_or_else(|e| e.into_inner()).values().map(|h| h.snapshot.borrow().clone()).collect()
    }

    /// How many rooms are live.
    pub fn len(&self) -> usize {
        self.rooms.read().unwrap_or_else(|e| e.into_inner()).len()
    }

    /// Whether no room is live.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}
