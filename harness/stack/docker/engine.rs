//! The Docker engine as the docker target uses it through bollard (the API client testcontainers
//! is built on): connecting with a deadline, the labels every object of a run carries, sweeping
//! what a killed run left, networks, aliases, exec and logs.

use std::collections::HashMap;
use std::time::Duration;

use futures_util::StreamExt;
use testcontainers::bollard::Docker;
use testcontainers::bollard::models::{
    EndpointSettings, NetworkConnectRequest, NetworkCreateRequest,
};
use testcontainers::bollard::query_parameters::{
    ListContainersOptions, ListNetworksOptions, ListVolumesOptions, LogsOptions,
    RemoveContainerOptions,
};

use crate::stack::error::{StackError, StackErrorKind};

/// Label on every container, network and volume of a stack: its id.
pub const STACK_LABEL: &str = "mm-harness.stack";
/// Label: the process id of the run that made it (a sweep removes objects whose run is gone), or
/// [`KEPT`] for a stack started with `--keep`, which only `twin sweep --all` removes.
pub const PID_LABEL: &str = "mm-harness.pid";
/// The [`PID_LABEL`] value of a kept stack.
pub const KEPT: &str = "kept";
/// Label: the scenario host a container plays.
pub const HOST_LABEL: &str = "mm-harness.host";
/// The label testcontainers puts on the containers it starts.
pub const MANAGED_BY_LABEL: &str = "org.testcontainers.managed-by";

/// How long the engine may take to answer a call.
const API_TIMEOUT: Duration = Duration::from_secs(120);

pub(crate) fn env_err(message: impl Into<String>) -> StackError {
    StackError::new(StackErrorKind::Environment, message)
}

/// What to do when no engine answers.
pub const NO_ENGINE_HINT: &str = "start the Docker engine (`systemctl start docker`, or `dockerd &`), or point DOCKER_HOST at one (e.g. DOCKER_HOST=unix:///var/run/docker.sock)";

/// Connect to the engine (DOCKER_HOST or the local socket) and check it answers.
pub async fn connect() -> Result<Docker, StackError> {
    let docker = Docker::connect_with_defaults().map_err(|e| {
        env_err(format!(
            "cannot reach the Docker engine: {e}; {NO_ENGINE_HINT}"
        ))
    })?;
    match tokio::time::timeout(Duration::from_secs(10), docker.ping()).await {
        Ok(Ok(_)) => Ok(docker),
        Ok(Err(e)) => Err(env_err(format!(
            "the Docker engine does not answer: {e}; {NO_ENGINE_HINT}"
        ))),
        Err(_) => Err(env_err(format!(
            "the Docker engine did not answer in 10 s; {NO_ENGINE_HINT}"
        ))),
    }
}

async fn timed<T, E: std::fmt::Display>(
    what: &str,
    f: impl std::future::Future<Output = Result<T, E>>,
) -> Result<T, StackError> {
    match tokio::time::timeout(API_TIMEOUT, f).await {
        Ok(Ok(v)) => Ok(v),
        Ok(Err(e)) => Err(env_err(format!("{what}: {e}"))),
        Err(_) => Err(env_err(format!(
            "{what}: the Docker engine did not answer in {} s",
            API_TIMEOUT.as_secs()
        ))),
    }
}

/// Whether an image is present locally; a missing one is exit 3 with what to do.
pub async fn require_image(docker: &Docker, image: &str, twin: bool) -> Result<(), StackError> {
    match tokio::time::timeout(API_TIMEOUT, docker.inspect_image(image)).await {
        Ok(Ok(_)) => Ok(()),
        Ok(Err(testcontainers::bollard::errors::Error::DockerResponseServerError {
            status_code: 404,
            ..
        })) => Err(env_err(if twin {
            format!(
                "the image {image} is not present: build it with `mm-harness twin image --tag {image}`"
            )
        } else {
            format!(
                "the image {image} is not present: `docker pull {image}` (or pass another with --gitlab-image / --mattermost-image)"
            )
        })),
        Ok(Err(e)) => Err(env_err(format!("cannot inspect the image {image}: {e}"))),
        Err(_) => Err(env_err(format!(
            "cannot inspect the image {image}: timeout"
        ))),
    }
}

fn label_filter(labels: &[String]) -> HashMap<String, Vec<String>> {
    HashMap::from([("label".to_string(), labels.to_vec())])
}

/// Whether a process id is alive on this machine.
fn pid_alive(pid: &str) -> bool {
    pid.parse::<u32>()
        .is_ok_and(|p| std::path::Path::new(&format!("/proc/{p}")).exists())
}

/// What a sweep removed.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Swept {
    pub containers: usize,
    pub networks: usize,
    pub volumes: usize,
}

/// Remove what runs that are gone left behind: containers (testcontainers' label and ours),
/// networks and volumes whose `mm-harness.pid` is not a live process. With `all`, remove every
/// mm-harness object whatever its run (what `--keep` leaves, by hand).
pub async fn sweep(docker: &Docker, all: bool) -> Result<Swept, StackError> {
    let mut swept = Swept::default();
    let stale = |labels: Option<&HashMap<String, String>>| {
        let Some(l) = labels else { return false };
        if !l.contains_key(STACK_LABEL) {
            return false;
        }
        all || !l.get(PID_LABEL).is_some_and(|p| p == KEPT || pid_alive(p))
    };
    let containers = timed(
        "cannot list containers",
        docker.list_containers(Some(ListContainersOptions {
            all: true,
            filters: Some(label_filter(&[STACK_LABEL.to_string()])),
            ..Default::default()
        })),
    )
    .await?;
    for c in containers {
        if stale(c.labels.as_ref())
            && let Some(id) = &c.id
        {
            remove_container(docker, id).await?;
            swept.containers += 1;
        }
    }
    let networks = timed(
        "cannot list networks",
        docker.list_networks(Some(ListNetworksOptions {
            filters: Some(label_filter(&[STACK_LABEL.to_string()])),
        })),
    )
    .await?;
    for n in networks {
        if stale(n.labels.as_ref())
            && let Some(name) = &n.name
        {
            timed("cannot remove a network", docker.remove_network(name)).await?;
            swept.networks += 1;
        }
    }
    let volumes = timed(
        "cannot list volumes",
        docker.list_volumes(Some(ListVolumesOptions {
            filters: Some(label_filter(&[STACK_LABEL.to_string()])),
        })),
    )
    .await?;
    for v in volumes.volumes.unwrap_or_default() {
        if stale(Some(&v.labels)) {
            remove_volume(docker, &v.name).await?;
            swept.volumes += 1;
        }
    }
    Ok(swept)
}

/// Remove a container, running or not (its anonymous volumes too).
pub async fn remove_container(docker: &Docker, id: &str) -> Result<(), StackError> {
    match tokio::time::timeout(
        API_TIMEOUT,
        docker.remove_container(
            id,
            Some(RemoveContainerOptions {
                force: true,
                v: true,
                link: false,
            }),
        ),
    )
    .await
    {
        Ok(Ok(())) => Ok(()),
        Ok(Err(testcontainers::bollard::errors::Error::DockerResponseServerError {
            status_code: 404,
            ..
        })) => Ok(()),
        Ok(Err(e)) => Err(env_err(format!("cannot remove container {id}: {e}"))),
        Err(_) => Err(env_err(format!("cannot remove container {id}: timeout"))),
    }
}

pub async fn remove_volume(docker: &Docker, name: &str) -> Result<(), StackError> {
    match tokio::time::timeout(
        API_TIMEOUT,
        docker.remove_volume(
            name,
            Some(testcontainers::bollard::query_parameters::RemoveVolumeOptions { force: true }),
        ),
    )
    .await
    {
        Ok(Ok(())) => Ok(()),
        Ok(Err(testcontainers::bollard::errors::Error::DockerResponseServerError {
            status_code: 404,
            ..
        })) => Ok(()),
        Ok(Err(e)) => Err(env_err(format!("cannot remove volume {name}: {e}"))),
        Err(_) => Err(env_err(format!("cannot remove volume {name}: timeout"))),
    }
}

/// The labels of a stack's objects (`keep`: a stack meant to outlive its run).
pub fn labels(stack_id: &str, keep: bool) -> HashMap<String, String> {
    let pid = if keep {
        KEPT.to_string()
    } else {
        std::process::id().to_string()
    };
    HashMap::from([
        (STACK_LABEL.to_string(), stack_id.to_string()),
        (PID_LABEL.to_string(), pid),
    ])
}

/// Create the run's private network.
pub async fn create_network(
    docker: &Docker,
    name: &str,
    stack_id: &str,
    keep: bool,
) -> Result<(), StackError> {
    timed(
        "cannot create the docker network",
        docker.create_network(NetworkCreateRequest {
            name: name.to_string(),
            driver: Some("bridge".to_string()),
            labels: Some(labels(stack_id, keep)),
            ..Default::default()
        }),
    )
    .await
    .map(|_| ())
}

/// Create a labelled named volume.
pub async fn create_volume(
    docker: &Docker,
    name: &str,
    stack_id: &str,
    keep: bool,
) -> Result<(), StackError> {
    timed(
        "cannot create a docker volume",
        docker.create_volume(testcontainers::bollard::models::VolumeCreateRequest {
            name: Some(name.to_string()),
            labels: Some(labels(stack_id, keep)),
            ..Default::default()
        }),
    )
    .await
    .map(|_| ())
}

/// Attach a container to the network under `aliases` (testcontainers has no alias API): the
/// container joined it without aliases at creation, so it is disconnected and connected again
/// (its published ports stay).
pub async fn connect_with_aliases(
    docker: &Docker,
    network: &str,
    container: &str,
    aliases: &[String],
) -> Result<(), StackError> {
    timed(
        "cannot disconnect a container from the network",
        docker.disconnect_network(
            network,
            testcontainers::bollard::models::NetworkDisconnectRequest {
                container: container.to_string(),
                force: Some(true),
            },
        ),
    )
    .await?;
    timed(
        "cannot connect a container to the network with its aliases",
        docker.connect_network(
            network,
            NetworkConnectRequest {
                container: container.to_string(),
                endpoint_config: Some(EndpointSettings {
                    aliases: Some(aliases.to_vec()),
                    ..Default::default()
                }),
            },
        ),
    )
    .await
}

/// The gateway address of a network (where containers reach the host).
pub async fn network_gateway(docker: &Docker, network: &str) -> Result<Option<String>, StackError> {
    let n = timed(
        "cannot inspect the docker network",
        docker.inspect_network(
            network,
            None::<testcontainers::bollard::query_parameters::InspectNetworkOptions>,
        ),
    )
    .await?;
    Ok(n.ipam
        .and_then(|i| i.config)
        .and_then(|c| c.into_iter().find_map(|c| c.gateway)))
}

/// Run a command in a container; its exit code and combined output (bounded).
pub async fn exec(
    docker: &Docker,
    container: &str,
    cmd: &[String],
    timeout: Duration,
) -> Result<(i64, String), StackError> {
    let created = timed(
        "cannot exec in the container",
        docker.create_exec(
            container,
            testcontainers::bollard::exec::CreateExecOptions::<String> {
                cmd: Some(cmd.to_vec()),
                attach_stdout: Some(true),
                attach_stderr: Some(true),
                ..Default::default()
            },
        ),
    )
    .await?;
    let started = timed(
        "cannot start the exec",
        docker.start_exec(
            &created.id,
            None::<testcontainers::bollard::exec::StartExecOptions>,
        ),
    )
    .await?;
    let mut out = String::new();
    if let testcontainers::bollard::exec::StartExecResults::Attached { mut output, .. } = started {
        let read = async {
            while let Some(Ok(chunk)) = output.next().await {
                if out.len() < 64 * 1024 {
                    out.push_str(&String::from_utf8_lossy(&chunk.into_bytes()));
                }
            }
        };
        if tokio::time::timeout(timeout, read).await.is_err() {
            return Err(env_err(format!(
                "`{}` did not finish in {} s",
                cmd.first().map(String::as_str).unwrap_or_default(),
                timeout.as_secs()
            )));
        }
    }
    let inspect = timed("cannot inspect the exec", docker.inspect_exec(&created.id)).await?;
    Ok((inspect.exit_code.unwrap_or(-1), out))
}

/// The last `lines` lines of a container's output.
pub async fn logs(docker: &Docker, container: &str, lines: usize) -> String {
    let mut stream = Box::pin(docker.logs(
        container,
        Some(LogsOptions {
            stdout: true,
            stderr: true,
            tail: lines.to_string(),
            ..Default::default()
        }),
    ));
    let mut out = String::new();
    let read = async {
        while let Some(Ok(chunk)) = stream.next().await {
            if out.len() < 256 * 1024 {
                out.push_str(&String::from_utf8_lossy(&chunk.into_bytes()));
            }
        }
    };
    let _ = tokio::time::timeout(Duration::from_secs(10), read).await;
    out
}

/// Whether a container is still running (false when it exited or is gone).
pub async fn running(docker: &Docker, container: &str) -> bool {
    matches!(
        tokio::time::timeout(
            Duration::from_secs(10),
            docker.inspect_container(container, None::<testcontainers::bollard::query_parameters::InspectContainerOptions>)
        )
        .await,
        Ok(Ok(c)) if c.state.as_ref().and_then(|s| s.running).unwrap_or(false)
    )
}
