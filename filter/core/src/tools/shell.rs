//! Shell command classification (`bash`, `shell`, `exec`, `run_command`, `powershell`, … tools):
//! every simple command of the line (pipes, `;`, `&&`, substitutions, `bash -c`, `cmd /c`,
//! `powershell -c`; `sudo`, `env`, `VAR=` prefixes and similar wrappers skipped) is classified by
//! its program and arguments against the data tables in [`super::shell_rules`]; the strongest
//! phase wins and targets are merged.

use llmfw_api::v1::{Phase, TargetKind};

use super::classify::{bound, category, Analysis};
use super::cmdline::{self, Segment};
use super::scope::{parse_ip, Cidr};
use super::shell_rules::{self as rules, Rule};

pub use super::cmdline::quote;

/// Nesting depth for `bash -c` and `$(…)`; deeper nesting is escalated.
const MAX_DEPTH: usize = 4;

/// Classifies a command line.
pub(crate) fn analyse(command: &str) -> Analysis {
    let mut a = Analysis::new(Phase::Unknown, category::SHELL);
    analyse_into(command, 0, &mut a);
    let lower = command.to_ascii_lowercase();
    if let Some((phase, cat)) = rules::keyword_hint(&lower) {
        a.absorb(Analysis::new(phase, cat));
    }
    a
}

fn analyse_into(command: &str, depth: usize, out: &mut Analysis) {
    if depth > MAX_DEPTH {
        out.incomplete = out.incomplete.or(Some(bound::SHELL_DEPTH));
        return;
    }
    let cl = cmdline::split(command);
    out.incomplete = out.incomplete.or(cl.truncated);
    let mut prev_reads_sensitive = false;
    for seg in &cl.segments {
        let (words, inner) = unwrap(&seg.words);
        if let Some(inner) = inner {
            analyse_into(&inner, depth + 1, out);
            continue;
        }
        let Some((prog, args)) = words.split_first() else {
            continue;
        };
        let prog = program_name(prog);
        let mut a = segment(&prog, args, seg);
        if prev_reads_sensitive && seg.piped_in && a.category == category::SHELL {
            a.category = category::COLLECTION;
            a.phase = Phase::Collection;
        }
        prev_reads_sensitive = a.category == category::COLLECTION;
        out.absorb(a);
    }
    for n in &cl.nested {
        analyse_into(n, depth + 1, out);
    }
}

/// Program name: basename, lower case, without `.exe`/`.py`/`.sh`/`.ps1` and `impacket-`.
pub(crate) fn program_name(word: &str) -> String {
    let base = word.rsplit(['/', '\\']).next().unwrap_or(word);
    let mut p = base.to_ascii_lowercase();
    for ext in [".exe", ".py", ".sh", ".ps1", ".bat", ".cmd"] {
        if let Some(s) = p.strip_suffix(ext) {
            p = s.to_owned();
        }
    }
    p.strip_prefix("impacket-").map(str::to_owned).unwrap_or(p)
}

/// `NAME=value` (shell variable assignment before a command).
fn is_assignment(w: &str) -> bool {
    w.split_once('=').is_some_and(|(name, _)| {
        name.bytes()
            .next()
            .is_some_and(|b| b.is_ascii_alphabetic() || b == b'_')
            && name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_')
    })
}

/// Skips env assignments and wrappers; returns the remaining words, or the inner command line of
/// `bash -c …`, `cmd /c …`, `powershell -c …`.
fn unwrap(words: &[String]) -> (Vec<String>, Option<String>) {
    let mut i = 0;
    while let Some(w) = words.get(i) {
        let prog = program_name(w);
        if is_assignment(w) {
            i += 1;
            continue;
        }
        if let Some(skip) = rules::wrapper_value_opts(&prog) {
            i += 1;
            // Options of the wrapper (and their values).
            while let Some(o) = words.get(i) {
                if !(o.starts_with('-')
                    || (prog == "timeout"
                        && o.bytes()
                            .all(|b| b.is_ascii_digit() || b == b's' || b == b'.')))
                {
                    break;
                }
                if skip.contains(&o.as_str()) {
                    i += 1;
                }
                i += 1;
            }
            continue;
        }
        let rest = &words[i..];
        let flag = |f: &[&str]| {
            rest.iter()
                .skip(1)
                .position(|x| f.iter().any(|g| x.eq_ignore_ascii_case(g)))
        };
        let interp = match prog.as_str() {
            "bash" | "sh" | "zsh" | "dash" | "ksh" | "fish" | "su" => flag(&["-c", "-lc", "-ic"]),
            "cmd" => flag(&["/c", "/k", "/r"]),
            "powershell" | "pwsh" => flag(&["-c", "-command", "-com"]),
            _ => None,
        };
        if let Some(pos) = interp {
            let inner: Vec<&str> = rest.iter().skip(pos + 2).map(String::as_str).collect();
            return (Vec::new(), Some(inner.join(" ")));
        }
        return (rest.to_vec(), None);
    }
    (Vec::new(), None)
}

fn segment(prog: &str, args: &[String], seg: &Segment) -> Analysis {
    let rule = rules::rule_for(prog);
    let lower: Vec<String> = args.iter().map(|a| a.to_ascii_lowercase()).collect();
    let has = |f: &str| lower.iter().any(|a| a == f);
    let mut a = match rule {
        Some(Rule::Recon) => hosts(Analysis::new(Phase::Recon, category::RECON), args),
        Some(Rule::Exploit) => hosts(Analysis::new(Phase::Exploit, category::EXPLOIT), args),
        Some(Rule::Credential) => hosts(
            Analysis::new(Phase::Lateral, category::CREDENTIAL_ACCESS),
            args,
        ),
        Some(Rule::Lateral) => lateral(prog, args),
        Some(Rule::Collection) => Analysis::new(Phase::Collection, category::COLLECTION),
        Some(Rule::Impact) => Analysis::new(Phase::Unknown, category::IMPACT),
        Some(Rule::Reader) => {
            if args.iter().any(|p| sensitive_path(p))
                || seg.stdin.as_deref().is_some_and(sensitive_path)
            {
                paths(Analysis::new(Phase::Collection, category::COLLECTION), args)
            } else {
                Analysis::new(Phase::Unknown, category::SHELL)
            }
        }
        Some(Rule::Archiver) => archiver(prog, args),
        Some(Rule::Transfer) => transfer(prog, args, &lower),
        None => Analysis::new(Phase::Unknown, category::SHELL),
    };
    // ssh fed by a pipe or a file: data leaves for that host.
    if prog == "ssh" && (seg.piped_in || seg.stdin.is_some()) && a.phase == Phase::Lateral {
        a.phase = Phase::Exfiltration;
        a.category = category::EXFILTRATION;
    }
    if prog == "net" {
        let first = lower.first().map_or("", String::as_str);
        if first == "use" && args.iter().any(|w| w.starts_with("\\\\")) {
            a = lateral(prog, args);
        } else if first == "view"
            || (matches!(first, "group" | "user" | "accounts") && has("/domain"))
        {
            a = Analysis::new(Phase::Recon, category::RECON);
        }
    }
    // Netcat: scan, listener, or a send of stdin / a pipe.
    if matches!(prog, "nc" | "ncat" | "netcat" | "socat") {
        a = if lower
            .iter()
            .any(|x| x.starts_with("-z") || x == "-vz" || x == "-zv" || x == "-nvz")
        {
            hosts(Analysis::new(Phase::Recon, category::RECON), args)
        } else if lower
            .iter()
            .any(|x| x == "-e" || x == "-c" || x.contains("exec:"))
        {
            hosts(Analysis::new(Phase::Lateral, category::LATERAL), args)
        } else if (seg.stdin.is_some() || seg.piped_in)
            && !has("-l")
            && !has("-lp")
            && !has("-lvp")
            && !has("-nlvp")
        {
            hosts(
                Analysis::new(Phase::Exfiltration, category::EXFILTRATION),
                args,
            )
        } else {
            Analysis::new(Phase::Unknown, category::SHELL)
        };
    }
    a
}

fn hosts(mut a: Analysis, args: &[String]) -> Analysis {
    for w in args {
        if w.starts_with('-') {
            continue;
        }
        if let Some((v, k)) = host_word(w) {
            a.add_target(&v, k);
        }
    }
    a
}

fn paths(mut a: Analysis, args: &[String]) -> Analysis {
    for w in args.iter().filter(|w| sensitive_path(w)) {
        a.add_target(w, TargetKind::Path);
    }
    a
}

fn lateral(prog: &str, args: &[String]) -> Analysis {
    let mut a = Analysis::new(Phase::Lateral, category::LATERAL);
    if prog == "ssh" || prog == "sshpass" || prog == "telnet" || prog == "mosh" {
        // The first positional after options (skipping option values) is the destination.
        let mut i = 0;
        while let Some(w) = args.get(i) {
            if w.starts_with('-') {
                if rules::SSH_VALUE_OPTS.contains(&w.as_str()) {
                    i += 1;
                }
                i += 1;
                continue;
            }
            if prog == "sshpass" {
                // sshpass -p pw ssh host
                return lateral("ssh", args.get(i + 1..).unwrap_or(&[]));
            }
            let host = w.rsplit_once('@').map_or(w.as_str(), |(_, h)| h);
            a.add_target(host, host_kind(host));
            return a;
        }
        // `ssh` with no destination: nothing happens on another host.
        return Analysis::new(Phase::Unknown, category::SHELL);
    }
    for w in args {
        if let Some(h) = w.strip_prefix("\\\\").or_else(|| w.strip_prefix("//")) {
            let host = h.split(['\\', '/']).next().unwrap_or(h);
            a.add_target(host, host_kind(host));
        } else if let Some(h) = w.to_ascii_lowercase().strip_prefix("/node:") {
            a.add_target(h.trim_matches('"'), host_kind(h));
        } else if !w.starts_with('-') {
            if let Some((v, k)) = host_word(w) {
                a.add_target(&v, k);
            }
        }
    }
    a
}

fn archiver(prog: &str, args: &[String]) -> Analysis {
    let creating = match prog {
        "tar" | "bsdtar" | "gtar" => {
            args.iter().any(|a| {
                (a.starts_with('-') || !a.contains('/')) && a.contains('c') && !a.contains("--")
                    || a == "--create"
            }) && !args
                .first()
                .is_some_and(|f| f.contains('x') && !f.contains('/'))
        }
        _ => true,
    };
    if creating && args.iter().any(|p| home_or_sensitive(p)) {
        return paths(Analysis::new(Phase::Collection, category::COLLECTION), args);
    }
    Analysis::new(Phase::Unknown, category::SHELL)
}

fn transfer(prog: &str, args: &[String], lower: &[String]) -> Analysis {
    let exfil = |dest: Option<&str>| {
        let mut a = Analysis::new(Phase::Exfiltration, category::EXFILTRATION);
        if let Some(d) = dest {
            a.add_target(d, host_kind(d));
        }
        a
    };
    let url = args.iter().find(|w| w.contains("://")).map(String::as_str);
    match prog {
        "curl" => {
            for (i, raw) in args.iter().enumerate() {
                let l = lower.get(i).map_or("", String::as_str);
                let next = args.get(i + 1).map_or("", String::as_str);
                let upload = raw == "-T"
                    || (raw.starts_with("-T") && raw.len() > 2)
                    || l == "--upload-file"
                    || l.starts_with("--upload-file=");
                let data_opt = matches!(
                    l,
                    "-d" | "--data" | "--data-binary" | "--data-urlencode" | "--json"
                );
                let data_file = (data_opt && (next.starts_with('@') || next.contains("=@")))
                    || ((l.starts_with("--data") || l.starts_with("--json")) && l.contains("=@"))
                    || raw.starts_with("-d@");
                let form_opt = raw == "-F" || l == "--form";
                let form_file = (form_opt && (next.contains("=@") || next.contains("=<")))
                    || (raw.starts_with("-F") && raw.len() > 2 && raw.contains("=@"));
                if upload || data_file || form_file {
                    return exfil(url);
                }
            }
        }
        "wget"
            if lower
                .iter()
                .any(|l| l.starts_with("--post-file") || l.starts_with("--body-file")) =>
        {
            return exfil(url);
        }
        "scp" | "rsync" | "pscp" | "sftp" => {
            let pos: Vec<&String> = args.iter().filter(|w| !w.starts_with('-')).collect();
            if let Some((dest, sources)) = pos.split_last() {
                if let Some(h) = remote_host(dest) {
                    if sources.iter().any(|s| remote_host(s).is_none()) {
                        return exfil(Some(h));
                    }
                }
                if let Some(h) = sources.iter().find_map(|s| remote_host(s)) {
                    return Analysis::new(Phase::Lateral, category::LATERAL)
                        .with_target(h, host_kind(h));
                }
            }
        }
        "rclone" | "aws" | "gsutil" | "gcloud" | "az" | "azcopy" | "s3cmd" => {
            let verbs = [
                "copy",
                "sync",
                "move",
                "copyto",
                "moveto",
                "cp",
                "mv",
                "put",
                "upload",
                "upload-batch",
                "rsync",
            ];
            let Some(v) = lower.iter().position(|w| verbs.contains(&w.as_str())) else {
                return Analysis::new(Phase::Unknown, category::SHELL);
            };
            let pos: Vec<&String> = args
                .iter()
                .skip(v + 1)
                .filter(|w| !w.starts_with('-'))
                .collect();
            let remote = |w: &str| {
                w.contains("://")
                    || (prog == "rclone" && remote_host(w).is_some() && !w.starts_with('/'))
            };
            if let Some((dest, sources)) = pos.split_last() {
                if remote(dest) && !sources.is_empty() && sources.iter().all(|s| !remote(s)) {
                    let d = if dest.contains("://") {
                        dest.as_str()
                    } else {
                        dest.split(':').next().unwrap_or(dest)
                    };
                    return exfil(Some(d));
                }
            }
        }
        "invoke-webrequest" | "iwr" | "invoke-restmethod" | "irm" => {
            let post = lower
                .windows(2)
                .any(|w| w[0] == "-method" && matches!(w[1].as_str(), "post" | "put"));
            if post && lower.iter().any(|l| l == "-infile" || l == "-body") {
                let uri = lower
                    .iter()
                    .position(|l| l == "-uri")
                    .and_then(|i| args.get(i + 1))
                    .map(String::as_str);
                return exfil(uri.or(url));
            }
        }
        "bitsadmin" if lower.iter().any(|l| l == "/upload") => return exfil(url),
        _ => {}
    }
    Analysis::new(Phase::Unknown, category::SHELL)
}

/// `user@host:path` or `host:path` (not `C:\…`, not a URL) → host.
fn remote_host(w: &str) -> Option<&str> {
    if w.contains("://") {
        return None;
    }
    let (left, _) = w.split_once(':')?;
    let host = left.rsplit_once('@').map_or(left, |(_, h)| h);
    (host.len() > 1 && !host.contains('/') && !host.contains('\\')).then_some(host)
}

fn host_kind(h: &str) -> TargetKind {
    if Cidr::parse(h).is_some() {
        TargetKind::Ip
    } else if h.contains("://") {
        TargetKind::Url
    } else {
        TargetKind::Host
    }
}

/// Host-, IP-, CIDR- or URL-shaped words of a free-form argument string.
pub(crate) fn host_words(s: &str) -> Vec<(String, TargetKind)> {
    let mut out = Vec::new();
    for seg in cmdline::split(s).segments {
        for w in &seg.words {
            if !w.starts_with('-') {
                out.extend(host_word(w));
            }
        }
    }
    out
}

/// A word that names a host: IP, CIDR, IP range (`10.0.0.1-254`), URL, `user@host`, or a dotted
/// name whose last label is alphabetic and not a common file extension.
pub(crate) fn host_word(w: &str) -> Option<(String, TargetKind)> {
    let w = w.trim_matches(|c| c == '"' || c == '\'' || c == ',');
    if w.contains("://") {
        return Some((w.to_owned(), TargetKind::Url));
    }
    let w = w.rsplit_once('@').map_or(w, |(_, h)| h);
    let base = w.split_once('-').map_or(w, |(a, _)| a);
    if Cidr::parse(w).is_some() || (parse_ip(base).is_some() && w.len() <= 40) {
        return Some((w.to_owned(), TargetKind::Ip));
    }
    let host = w.split(':').next().unwrap_or(w);
    let labels: Vec<&str> = host.split('.').collect();
    let tld = labels.last().copied().unwrap_or("");
    let ok = labels.len() >= 2
        && labels.iter().all(|l| {
            !l.is_empty()
                && l.bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
        })
        && tld.len() >= 2
        && tld.bytes().all(|b| b.is_ascii_alphabetic())
        && !rules::FILE_EXTENSIONS.contains(&tld.to_ascii_lowercase().as_str());
    ok.then(|| (host.to_owned(), TargetKind::Host))
}

/// True for credential and secret files (shadow, SSH keys, cloud credentials, browser logins,
/// SAM/NTDS hives, shell histories, private keys).
pub fn sensitive_path(p: &str) -> bool {
    let l = p.to_ascii_lowercase().replace('\\', "/");
    if read_only_system_data(&l) {
        return false;
    }
    rules::SENSITIVE_PATHS.iter().any(|s| l.contains(s))
        || rules::SENSITIVE_SUFFIXES.iter().any(|s| l.ends_with(s))
}

/// Well-known read-only system data (wordlists, manual pages, package documentation): reading
/// it is no collection of secrets. Judged after lexical normalisation, so `..` cannot leave it.
pub fn read_only_system_data(p: &str) -> bool {
    let Some(norm) = super::scope::normalize_path(p) else {
        return false;
    };
    rules::READ_ONLY_DATA.iter().any(|d| {
        norm.strip_prefix(d)
            .is_some_and(|r| r.is_empty() || r.starts_with('/'))
    })
}

fn home_or_sensitive(p: &str) -> bool {
    let l = p.to_ascii_lowercase().replace('\\', "/");
    sensitive_path(&l)
        || rules::HOME_DIRS
            .iter()
            .any(|h| l == *h || l.starts_with(&format!("{h}/")) || l.strip_suffix('/') == Some(h))
}
