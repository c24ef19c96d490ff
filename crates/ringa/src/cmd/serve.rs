//! `ringa serve`: the web product (agent desktop, supervisor wall,
//! administration, API) with the floor runtime, on one listener.

use std::net::SocketAddr;
use std::path::PathBuf;

use anyhow::Context;
use clap::{Args, ValueEnum};
use ringa_web::floor::{FloorConfig, LiveConfig};
use ringa_web::{AppState, WorldProfile};

#[derive(Args)]
pub(crate) struct ServeArgs {
    /// The database: `sqlite://PATH` or `postgres://...` (default: the
    /// RINGA_DB environment variable, else `sqlite://ringa.db`).
    #[arg(long)]
    db: Option<String>,
    /// The address to listen on.
    #[arg(long, default_value = "127.0.0.1:8080")]
    listen: SocketAddr,
    /// Simulated agents logged in on every campaign (no telephony is
    /// configured: calls go to a simulated world).
    #[arg(long, default_value_t = 0)]
    sim_agents: u32,
    /// How the simulated customers behave.
    #[arg(long, value_enum, default_value_t = Profile::Realistic)]
    sim_profile: Profile,
    /// Seeds the engine and the simulated world.
    #[arg(long, default_value_t = 1)]
    seed: u64,
    /// A TOML file with the SIP trunk (`[[trunk]]`), the agents' phones
    /// (`[[agent_phone]]`) and the media settings: calls then go through the
    /// trunk instead of the simulated world (see docs/operator-guide.md).
    #[arg(long)]
    telephony: Option<PathBuf>,
}

#[derive(Clone, Copy, ValueEnum)]
enum Profile {
    /// Answer rates and talk times of a consumer list.
    Realistic,
    /// Quick answers and long patience, for demonstrations and tests.
    Quick,
}

#[derive(Args)]
pub(crate) struct UserArgs {
    #[command(subcommand)]
    command: UserCommand,
    /// The database: `sqlite://PATH` or `postgres://...` (default: the
    /// RINGA_DB environment variable, else `sqlite://ringa.db`).
    #[arg(long, global = true)]
    db: Option<String>,
}

#[derive(clap::Subcommand)]
enum UserCommand {
    /// Adds a user; the password is read from RINGA_PASSWORD or generated
    /// and printed once. A generated password is one-time: the user must
    /// replace it at the first login.
    Add {
        login: String,
        #[arg(long, default_value = "agent")]
        role: String,
        /// The name shown on the wall.
        #[arg(long)]
        name: Option<String>,
        /// Campaign ids the user works on.
        #[arg(long, value_delimiter = ',')]
        campaigns: Vec<u64>,
    },
    /// Lists every user: id, login, role, whether the login is enabled,
    /// name and campaigns.
    List,
    /// Disables a user's login: the user's sessions end at their next
    /// request, also on a running server, and the API tokens the user made
    /// are revoked. The user, its history and its campaigns stay, and
    /// `ringa user enable` lets it log in again.
    Disable { login: String },
    /// Enables a disabled user's login again.
    Enable { login: String },
}

/// Reads the telephony file: the first trunk, the SIP address and the
/// driver's options.
fn live_config(path: &PathBuf, sim_agents: u32) -> anyhow::Result<LiveConfig> {
    let text =
        std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
    let telephony = ringa_sip::config::TelephonyConfig::from_toml(&text)
        .with_context(|| format!("reading {}", path.display()))?;
    if telephony.trunks.is_empty() {
        anyhow::bail!("{} has no [[trunk]] section", path.display());
    }
    if sim_agents > 0 {
        anyhow::bail!(
            "--sim-agents works only without --telephony: simulated agents have no phones"
        );
    }
    let options =
        telephony.driver_options().with_context(|| format!("reading {}", path.display()))?;
    let trunks = telephony.trunks.clone();
    Ok(LiveConfig { trunks, sip_bind: telephony.sip_address(), options })
}

pub(crate) fn run(args: ServeArgs) -> anyhow::Result<()> {
    let live = args.telephony.as_ref().map(|p| live_config(p, args.sim_agents)).transpose()?;
    let runtime = tokio::runtime::Runtime::new().context("starting the async runtime")?;
    runtime.block_on(async move {
        let db = database_url(args.db);
        let store = ringa_store::Store::open(&db)
            .await
            .with_context(|| format!("opening the database {db}"))?;
        // One server per database: a second one would close this one's
        // attempts in flight as interrupted and pace its campaigns twice.
        store.claim_server().await.context("starting the server")?;
        // Lists changed by `ringa dnc` or another node reach memory within a
        // second; the dial itself re-checks the database in any case.
        store.watch_dnc(std::time::Duration::from_secs(1));
        let profile = match args.sim_profile {
            Profile::Realistic => WorldProfile::realistic(),
            Profile::Quick => WorldProfile::quick(),
        };
        let config = FloorConfig {
            sim_agents: args.sim_agents,
            profile,
            // A stable name: claims left by a crash are recovered on restart,
            // and only one server runs on a database (claimed above).
            worker: "web".to_string(),
            seed: args.seed,
        };
        let (state, first) =
            AppState::open_live(store, config, live).await.context("starting the floor")?;
        let listener = tokio::net::TcpListener::bind(args.listen)
            .await
            .with_context(|| format!("listening on {}", args.listen))?;
        let addr = listener.local_addr()?;
        println!("ringa serving on http://{addr}/");
        match first.admin {
            Some((login, password)) => {
                println!("First start: log in as {login:?} with the one-time password {password}");
                println!("(add more users with `ringa user add NAME --role R`)");
            }
            None => println!("Log in with your account (add: `ringa user add NAME --role R`)."),
        }
        let floor = state.floor.clone();
        ringa_web::run(listener, state, ringa_web::interrupted()).await.context("serving")?;
        // Customers on the trunk get their BYE before the process goes.
        floor.shutdown().await;
        Ok(())
    })
}

pub(crate) fn user(args: UserArgs) -> anyhow::Result<()> {
    let runtime = tokio::runtime::Runtime::new().context("starting the async runtime")?;
    runtime.block_on(async move {
        let db = database_url(args.db);
        let store = ringa_store::Store::open(&db)
            .await
            .with_context(|| format!("opening the database {db}"))?;
        match args.command {
            UserCommand::Add { login, role, name, campaigns } => {
                // Unknown campaigns are refused before the user is created.
                let existing = store.campaigns().await.context("reading the campaigns")?;
                if let Some(missing) =
                    campaigns.iter().find(|id| !existing.iter().any(|c| c.id.0 == **id))
                {
                    let names: Vec<String> =
                        existing.iter().map(|c| format!("{} ({})", c.id.0, c.name)).collect();
                    let names = if names.is_empty() { "none".into() } else { names.join(", ") };
                    anyhow::bail!("no campaign {missing}; existing campaigns: {names}");
                }
                let (password, generated) = match std::env::var("RINGA_PASSWORD") {
                    Ok(p) => (p, false),
                    Err(_) => (ringa_web::auth::random_token(9), true),
                };
                let body = ringa_web::api::NewUser {
                    login: login.clone(),
                    name,
                    role,
                    password: password.clone(),
                    campaigns: campaigns.into_iter().map(ringa_core::CampaignId).collect(),
                    must_change_password: generated,
                };
                let accounts = ringa_web::auth::Accounts::new(store.clone());
                let id = ringa_web::api::create_user_with(&store, &accounts, &body)
                    .await
                    .map_err(|e| anyhow::anyhow!("{e}"))?;
                println!("added user {login} (id {}, role {})", id.0, body.role);
                if generated {
                    println!(
                        "one-time password (shown once; to be changed at the first login): \
                         {password}"
                    );
                }
                Ok(())
            }
            UserCommand::List => list_users(&store).await,
            UserCommand::Disable { login } => set_active(&store, &login, false).await,
            UserCommand::Enable { login } => set_active(&store, &login, true).await,
        }
    })
}

/// `ringa user list`: one line per user, a header first.
async fn list_users(store: &ringa_store::Store) -> anyhow::Result<()> {
    let users = store.users().await.context("reading the users")?;
    let accounts = ringa_web::auth::Accounts::new(store.clone());
    println!(
        "{:>4}  {:<16} {:<10} {:<8} {:<24} campaigns",
        "id", "login", "role", "status", "name"
    );
    for user in users {
        let campaigns = accounts
            .campaigns_of(user.id)
            .await
            .map_err(|e| anyhow::anyhow!("reading the campaigns of {}: {e}", user.login))?;
        let campaigns: Vec<String> = campaigns.iter().map(|c| c.0.to_string()).collect();
        let campaigns = if campaigns.is_empty() { "-".to_string() } else { campaigns.join(",") };
        let state = if user.active { "enabled" } else { "disabled" };
        println!(
            "{:>4}  {:<16} {:<10} {:<8} {:<24} {campaigns}",
            user.id.0, user.login, user.role, state, user.display_name
        );
    }
    Ok(())
}

/// `ringa user disable|enable LOGIN`.
async fn set_active(store: &ringa_store::Store, login: &str, active: bool) -> anyhow::Result<()> {
    let Some((user, _)) = store.user_for_login(login).await.context("reading the users")? else {
        let logins: Vec<String> = store
            .users()
            .await
            .context("reading the users")?
            .into_iter()
            .map(|u| u.login)
            .collect();
        let logins = if logins.is_empty() { "none".into() } else { logins.join(", ") };
        anyhow::bail!("no user {login:?}; existing users: {logins}");
    };
    let word = if active { "enabled" } else { "disabled" };
    if user.active == active {
        println!("user {login} ({}) is already {word}", user.id);
        return Ok(());
    }
    if active {
        store.set_user_active(user.id, true).await.with_context(|| format!("updating {login}"))?;
        println!("{word} user {login} ({})", user.id);
        return Ok(());
    }
    let accounts = ringa_web::auth::Accounts::new(store.clone());
    let revoked = ringa_web::api::disable_user(store, &accounts, user.id)
        .await
        .map_err(|e| anyhow::anyhow!("disabling {login}: {e}"))?;
    println!("{word} user {login} ({}): its sessions have ended", user.id);
    if revoked > 0 {
        println!("revoked {revoked} API token(s) the user made");
    }
    Ok(())
}

/// `--db`, else RINGA_DB, else `sqlite://ringa.db` in the working directory.
fn database_url(flag: Option<String>) -> String {
    flag.or_else(|| std::env::var("RINGA_DB").ok())
        .unwrap_or_else(|| "sqlite://ringa.db".to_string())
}
