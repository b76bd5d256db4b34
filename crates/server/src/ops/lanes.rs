//! Lanes (admin): deleting one moves its tickets to "No lane", each with its own event.
//!
//! Positions are `0..=POSITION_MAX` (see `validate`); a lane created without one goes after
//! the last lane, and lanes sharing a position sort by id.
//!
//! Dependencies: `validate`, `visibility` (lane events go to everyone), `writes`, `store`,
//! `auth`, `state`, `error`.

use deskbell_protocol::{EventAction, Id, Lane, LanePatch, NewLane, Resource};
use sqlx::Row;

use super::validate::{position, required_text, Lines, POSITION_MAX};
use crate::auth::AuthUser;
use crate::error::{OpError, OpResult};
use crate::state::AppState;
use crate::store::{self, lane_from_row, LANE_COLUMNS};
use crate::visibility::Audience;
use crate::writes::WriteTx;

const NAME_MAX: usize = 60;

fn valid_color(color: &str) -> OpResult<String> {
    let c = color.trim();
    let ok = c.len() == 7 && c.starts_with('#') && c[1..].chars().all(|ch| ch.is_ascii_hexdigit());
    if ok {
        Ok(c.to_ascii_lowercase())
    } else {
        Err(OpError::validation(format!(
            "color must look like #1e88e5, not {c:?}"
        )))
    }
}

/// The company's lanes, by position (then id).
pub async fn list(state: &AppState, actor: &AuthUser) -> OpResult<Vec<Lane>> {
    Ok(store::lanes(&state.db.pool, actor.company_id()).await?)
}

/// Creates a lane (admins only); without a position it goes after the last.
pub async fn create(state: &AppState, actor: &AuthUser, new: NewLane) -> OpResult<Lane> {
    actor.require_admin()?;
    let name = required_text("name", &new.name, NAME_MAX, Lines::Single)?;
    let color = valid_color(&new.color)?;
    let at = new.position.map(|p| position("position", p)).transpose()?;
    state.count_write(actor.company_id(), actor.user.id).await?;
    super::write(
        state,
        actor,
        (name, color, at),
        |w, (name, color, position)| Box::pin(insert_lane(w, name, color, *position)),
    )
    .await
}

async fn insert_lane(
    w: &mut WriteTx,
    name: &str,
    color: &str,
    position: Option<i64>,
) -> OpResult<Lane> {
    let position = match position {
        Some(p) => p,
        None => {
            // Lanes written since positions are checked hold one in range, but a row stored
            // before may hold anything (up to i64::MAX): "one more than the largest" is
            // computed here without overflow and kept in range, never in SQL.
            let last: i64 = sqlx::query(
                "SELECT COALESCE(MAX(position), -1) AS p FROM lanes WHERE company_id = $1",
            )
            .bind(w.company_id)
            .fetch_one(w.conn())
            .await?
            .try_get("p")?;
            last.saturating_add(1).clamp(0, POSITION_MAX)
        }
    };
    let row = sqlx::query(&format!(
        "INSERT INTO lanes (company_id, name, color, position, created_at) VALUES ($1, $2, $3, $4, $5)
         RETURNING {LANE_COLUMNS}"
    ))
    .bind(w.company_id)
    .bind(name)
    .bind(color)
    .bind(position)
    .bind(store::ts(w.now))
    .fetch_one(w.conn())
    .await?;
    let lane = lane_from_row(&row)?;
    let mut event = w.envelope(EventAction::Create);
    event.lane = Some(lane.clone());
    w.record(Resource::Lane, Audience::All, event)?;
    Ok(lane)
}

/// Renames, recolours or moves a lane (admins only).
pub async fn update(
    state: &AppState,
    actor: &AuthUser,
    id: Id,
    patch: LanePatch,
) -> OpResult<Lane> {
    actor.require_admin()?;
    if patch == LanePatch::default() {
        return Err(OpError::validation("nothing to change"));
    }
    let name = patch
        .name
        .as_deref()
        .map(|n| required_text("name", n, NAME_MAX, Lines::Single))
        .transpose()?;
    let color = patch.color.as_deref().map(valid_color).transpose()?;
    let at = patch
        .position
        .map(|p| position("position", p))
        .transpose()?;
    state.count_write(actor.company_id(), actor.user.id).await?;
    super::write(
        state,
        actor,
        (id, name, color, at),
        |w, (id, name, color, position)| {
            Box::pin(update_lane(w, *id, name.clone(), color.clone(), *position))
        },
    )
    .await
}

async fn update_lane(
    w: &mut WriteTx,
    id: Id,
    name: Option<String>,
    color: Option<String>,
    position: Option<i64>,
) -> OpResult<Lane> {
    let company_id = w.company_id;
    let mut lane = store::lane(w.conn(), company_id, id)
        .await?
        .ok_or(OpError::NotFound("lane"))?;
    lane.name = name.unwrap_or(lane.name);
    lane.color = color.unwrap_or(lane.color);
    lane.position = position.unwrap_or(lane.position);
    sqlx::query(
        "UPDATE lanes SET name = $1, color = $2, position = $3 WHERE id = $4 AND company_id = $5",
    )
    .bind(&lane.name)
    .bind(&lane.color)
    .bind(lane.position)
    .bind(id)
    .bind(company_id)
    .execute(w.conn())
    .await?;
    let mut event = w.envelope(EventAction::Update);
    event.lane = Some(lane.clone());
    w.record(Resource::Lane, Audience::All, event)?;
    Ok(lane)
}

/// Deletes a lane (admins only); its tickets move to "No lane", each with its own event.
pub async fn delete(state: &AppState, actor: &AuthUser, id: Id) -> OpResult<()> {
    actor.require_admin()?;
    state.count_write(actor.company_id(), actor.user.id).await?;
    super::write(state, actor, id, |w, id| Box::pin(delete_lane(w, *id))).await
}

async fn delete_lane(w: &mut WriteTx, id: Id) -> OpResult<()> {
    let company_id = w.company_id;
    let lane = store::lane(w.conn(), company_id, id)
        .await?
        .ok_or(OpError::NotFound("lane"))?;
    let in_lane: Vec<Id> =
        sqlx::query("SELECT id FROM tickets WHERE lane_id = $1 AND company_id = $2 ORDER BY id")
            .bind(id)
            .bind(company_id)
            .fetch_all(w.conn())
            .await?
            .iter()
            .map(|r| r.try_get("id"))
            .collect::<Result<_, _>>()?;
    for ticket_id in in_lane {
        sqlx::query(
            "UPDATE tickets SET lane_id = NULL, updated_at = $1, version = version + 1 WHERE id = $2 AND company_id = $3",
        )
        .bind(store::ts(w.now))
        .bind(ticket_id)
        .bind(company_id)
        .execute(w.conn())
        .await?;
        let ticket = w.ticket(ticket_id).await?;
        let mut event = w.envelope(EventAction::Move);
        event.from = Some(serde_json::json!(id));
        event.to = Some(serde_json::Value::Null);
        let audience = Audience::of_ticket(&ticket);
        event.ticket = Some(ticket);
        w.record(Resource::Ticket, audience, event)?;
    }
    sqlx::query("DELETE FROM lanes WHERE id = $1 AND company_id = $2")
        .bind(id)
        .bind(company_id)
        .execute(w.conn())
        .await?;
    let mut event = w.envelope(EventAction::Delete);
    event.lane = Some(lane);
    w.record(Resource::Lane, Audience::All, event)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn colors_are_hex() {
        assert_eq!(valid_color("#1E88E5").unwrap(), "#1e88e5");
        for bad in ["1e88e5", "#1e88e", "#zzzzzz", "red", "#1e88e5 x"] {
            assert!(valid_color(bad).is_err(), "{bad}");
        }
    }
}
