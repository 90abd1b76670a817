//! Issue 22: collect reads on a second thread and sums on the first, in the order the lines
//! were read. The results must be those of the sequential read (`TALLY_COLLECT_THREADS=1`),
//! byte for byte: the same cells, the same duplicate kept, the same invalid lines named by
//! the same file and line, the same explanation.

use crate::util::{run, tally, TestDir};

/// Generated inputs of every kind of sink call, each file large enough to span many batches
/// (`tally_sources::batch::BATCH_EVENTS`): two sacct dumps sharing jobs (duplicates across
/// files, some with a later End), invalid lines, jobs across the October/November boundary, a
/// Univa accounting file (milliseconds), CSV interval rows with a dedup key (the last row
/// read wins) and CSV amount rows. Returns the config and the line numbers of the injected
/// invalid lines in `b.txt`.
fn inputs(dir: &TestDir) -> (std::path::PathBuf, Vec<usize>) {
    let opts = tally_testgen::GenOptions {
        lines: 30_000,
        accounts: 40,
        seed: 11,
        ..Default::default()
    };
    let mut a = Vec::new();
    tally_testgen::generate(&opts, &mut a).unwrap();
    let a = String::from_utf8(a).unwrap();
    dir.write("a.txt", &a);

    // b.txt: every third line of a.txt (the same jobs again), every tenth of those with its
    // End moved to the window's last day, and an invalid line every 400 lines.
    let mut lines = a.lines();
    let header = lines.next().unwrap();
    let end_col = header.split('|').position(|c| c == "End").unwrap();
    let mut b = vec![header.to_string()];
    let mut invalid_lines = Vec::new();
    for (i, line) in lines.enumerate().filter(|(i, _)| i % 3 == 0) {
        let mut fields: Vec<String> = line.split('|').map(str::to_string).collect();
        if i % 30 == 0 && fields[end_col] != "Unknown" {
            fields[end_col] = "2026-11-24T23:00:00".into();
        }
        b.push(fields.join("|"));
        if b.len() % 400 == 0 {
            b.push("not|a|job".into());
            invalid_lines.push(b.len());
        }
    }
    dir.write("b.txt", &(b.join("\n") + "\n"));

    let site = tally_testgen::GenOptions {
        lines: 12_000,
        accounts: 40,
        seed: 5,
        site_like: true,
        ..Default::default()
    };
    let mut s = Vec::new();
    tally_testgen::generate(&site, &mut s).unwrap();
    dir.write("site.txt", std::str::from_utf8(&s).unwrap());

    let mut uge = Vec::new();
    tally_testgen::grid::generate_sge(
        &tally_testgen::GenOptions {
            lines: 8_000,
            accounts: 40,
            ..Default::default()
        },
        tally_testgen::grid::GridEngine::Univa,
        &mut uge,
    )
    .unwrap();
    dir.write("uge.txt", std::str::from_utf8(&uge).unwrap());

    // Interval rows: each Id three times with the same Finish and different Cores (the last
    // read counts), across the month boundary.
    let mut rows = String::from("Id,Project,Begin,Finish,Cores\n");
    for i in 0..6000 {
        let id = i / 3;
        let day = 20 + id % 15;
        let (begin, finish) = if day <= 31 {
            (
                format!("2026-10-{day:02}T22:00:00Z"),
                format!("2026-11-0{}T02:00:00Z", 1 + id % 5),
            )
        } else {
            (
                format!("2026-11-{:02}T01:00:00Z", day - 31),
                format!("2026-11-{:02}T03:00:00Z", day - 31),
            )
        };
        rows.push_str(&format!(
            "{id},p{},{begin},{finish},{}\n",
            id % 7,
            1 + i % 5
        ));
        if i % 1000 == 999 {
            rows.push_str(&format!("{id},p1,yesterday,{finish},2\n"));
        }
    }
    dir.write("rows.csv", &rows);
    let mut amounts = String::from("Project,Day,Kind,Cost\n");
    for i in 0..5000 {
        amounts.push_str(&format!(
            "p{},2026-{}-{:02},storage,{}.{:03}\n",
            i % 5,
            if i % 2 == 0 { "10" } else { "11" },
            1 + i % 28,
            i % 13,
            i % 1000
        ));
    }
    dir.write("amounts.csv", &amounts);

    let config = dir.write(
        "tally.toml",
        "[[sources]]\nformat = \"sacct\"\npaths = [\"a.txt\", \"b.txt\", \"site.txt\"]\n\
         [[sources]]\nformat = \"sge\"\npaths = [\"uge.txt\"]\n\
         [[sources]]\nformat = \"csv\"\nrecords = \"interval\"\npaths = [\"rows.csv\"]\n\
         resource = \"Project\"\ndedup_key = [\"Id\"]\nstart = \"Begin\"\nend = \"Finish\"\n\
         quantities = { cpu = \"Cores\" }\n\
         [[sources]]\nformat = \"csv\"\nrecords = \"amount\"\npaths = [\"amounts.csv\"]\n\
         resource = \"Project\"\ntimestamp = \"Day\"\ntime_format = \"%Y-%m-%d\"\n\
         component = \"Kind\"\namount = \"Cost\"\n\
         [components.cpu]\ntres = \"cpu\"\n[components.gpu]\ntres = \"gres/gpu\"\n\
         [components.ram]\ntres = \"mem\"\nfactor = \"0.0009765625\"\n\
         [components.storage]\ntres = \"storage\"\n",
    );
    (config, invalid_lines)
}

/// `tally <args>` with the given thread setting; returns (exit code, stdout).
fn collect(config: &std::path::Path, args: &[&str], threads: Option<&str>) -> (i32, String) {
    let mut cmd = tally();
    cmd.args(args).arg("--config").arg(config);
    match threads {
        Some(t) => cmd.env("TALLY_COLLECT_THREADS", t),
        None => cmd.env_remove("TALLY_COLLECT_THREADS"),
    };
    let r = run(&mut cmd);
    (r.code, r.stdout)
}

#[test]
fn reading_on_a_second_thread_gives_byte_identical_output() {
    let dir = TestDir::new();
    let (config, invalid_lines) = inputs(&dir);
    let args = [
        "collect",
        "--format",
        "json",
        "--from",
        "2026-10",
        "--to",
        "2026-11",
        "--as-of",
        "2026-11-25T00:00:00Z",
    ];
    let (code, sequential) = collect(&config, &args, Some("1"));
    let (parallel_code, parallel) = collect(&config, &args, None);
    assert_eq!(code, parallel_code);
    assert!(
        sequential == parallel,
        "the parallel read differs from the sequential one"
    );

    // The inputs exercised what they are meant to.
    let v: serde_json::Value = serde_json::from_str(&parallel).unwrap();
    let records = &v["records"];
    assert!(records["duplicates"].as_u64().unwrap() > 5000, "{records}");
    let invalid = records["invalid"].as_u64().unwrap();
    assert_eq!(invalid, invalid_lines.len() as u64 + 6, "{records}");
    let listed = v["invalid"].as_array().unwrap();
    let b_lines: Vec<u64> = listed
        .iter()
        .filter(|i| i["file"].as_str().unwrap().ends_with("b.txt"))
        .map(|i| i["line"].as_u64().unwrap())
        .collect();
    let want: Vec<u64> = invalid_lines.iter().map(|&l| l as u64).collect();
    assert_eq!(b_lines, want);
    let usages = v["usages"].as_array().unwrap();
    let months: std::collections::BTreeSet<&str> = usages
        .iter()
        .map(|c| c["period"].as_str().unwrap())
        .collect();
    assert_eq!(months.len(), 2, "{months:?}");
    assert!(usages.iter().any(|c| c["component"] == "storage"));
}

#[test]
fn explain_on_a_second_thread_lists_the_same_jobs_and_steps() {
    let dir = TestDir::new();
    let (config, _) = inputs(&dir);
    // The account of a.txt's first job.
    let a = std::fs::read_to_string(dir.path().join("a.txt")).unwrap();
    let mut lines = a.lines();
    let account_col = lines
        .next()
        .unwrap()
        .split('|')
        .position(|c| c == "Account")
        .unwrap();
    let account = lines.next().unwrap().split('|').nth(account_col).unwrap();
    let args = [
        "explain",
        account,
        "2026-10",
        "--as-of",
        "2026-11-25T00:00:00Z",
        "--format",
        "json",
    ];
    let (code, sequential) = collect(&config, &args, Some("1"));
    let (parallel_code, parallel) = collect(&config, &args, None);
    assert_eq!((code, parallel_code), (0, 0), "{sequential}");
    assert!(
        sequential == parallel,
        "the parallel explanation differs from the sequential one"
    );
    assert!(sequential.contains(".batch"), "steps are listed");
}

/// A thread setting other than 1 or 2 is said once (not once per use) and changes nothing: the
/// figures are the default's.
#[test]
fn an_unknown_thread_setting_is_warned_about_once_and_ignored() {
    let config = crate::util::fixture("fixtures/replay/tally.toml");
    let args = [
        "collect",
        "--format",
        "json",
        "--as-of",
        "2026-11-25T00:00:00Z",
    ];
    let mut cmd = tally();
    cmd.args(args).arg("--config").arg(&config);
    cmd.env("TALLY_COLLECT_THREADS", "3");
    let odd = run(&mut cmd);
    let (code, default) = collect(&config, &args, None);
    assert_eq!((odd.code, odd.stdout.as_str()), (code, default.as_str()));
    let warnings = odd.stderr.matches("TALLY_COLLECT_THREADS=\"3\"").count();
    assert_eq!(warnings, 1, "{}", odd.stderr);
}
