//! A club's members-only room on a cluster: a WHEP player of someone who loses the club ends, wherever the
//! removal was made.

use super::{WAIT, nats, node, via};
use crate::whip::{a_members_only_player, session_known};
use std::time::{Duration, Instant};
use stoa_client::Api;

/// A member removed from a club through one node loses the WHEP player they have on another, the room's
/// own: the room publishes itself again for the removal, and the node playing it checks its players
/// against the club. (Before, only the node that took the removal ended players, and WHEP plays on the
/// room's own node, so this one played on.)
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_member_removed_through_another_node_loses_their_whep_player() {
    let database = stoa_store::test_database().expect("the Postgres pass of the test command sets STOA_TEST_POSTGRES");
    let nats = nats();
    let dir = tempfile::tempdir().unwrap();
    let b = node("b", &database, &nats.url, dir.path()).await;
    let c = node("c", &database, &nats.url, dir.path()).await;
    let base_b = format!("http://{}", b.addr);
    let bootstrap = b.bootstrap_invite.clone().unwrap();
    let owner = Api::sign_up(&base_b, bootstrap.rsplit('/').next().unwrap(), "owner", "owner-password").await.unwrap();
    let store = stoa_store::open(dir.path(), Some(&database)).await.unwrap();
    let invite = store.create_admin_invite(10).await.unwrap();
    let member = Api::sign_up(&base_b, &invite, "member", "member-password").await.unwrap();
    let deadline = Instant::now() + WAIT;
    while via(&owner, &c).get("/healthz").await.unwrap()["cluster"]["nodes"].as_array().map_or(0, |n| n.len()) < 2 {
        assert!(Instant::now() < deadline, "the nodes never heard each other");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    // The room runs on B, where it is made; its mix is played there.
    let (_moderator, _room, token, location) = a_members_only_player(&owner, &member, &base_b).await;
    let removed = reqwest::Client::new()
        .delete(format!("http://{}/api/v1/clubs/circle/members/member", c.addr))
        .bearer_auth(&owner.token)
        .send()
        .await
        .unwrap();
    assert_eq!(removed.status(), 204, "the owner removes the member through C");
    let deadline = Instant::now() + Duration::from_secs(10);
    while session_known(&location, Some(&token)).await {
        assert!(Instant::now() < deadline, "a member removed through C kept their WHEP player on B");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}
