//! Every source on damaged input (random byte flips, truncated lines, stray quotes, empty
//! lines): nothing panics and every line read is in exactly one bucket, with the sink
//! seeing exactly what was counted and nothing out of bounds. The checks are the ones the
//! fuzz targets make (`tally_sources::fuzzing`), so the fuzzer and this test agree.

use std::path::Path;

use proptest::prelude::*;
use tally_sources::fuzzing::{self, CheckingSink};

const SACCT: &str = "\
JobID|JobIDRaw|Cluster|Account|User|State|Submit|Start|End|AllocTRES
7|7|c|acct|u|COMPLETED|2026-10-01T00:00:00|2026-10-01T00:00:00|2026-10-01T01:00:00|billing=2,cpu=2,gres/gpu:a100=1,gres/gpu=1,mem=4G,node=1
7.batch|7.batch|c|acct||COMPLETED|2026-10-01T00:00:00|2026-10-01T00:00:00|2026-10-01T01:00:00|cpu=2,gres/gpu=1,mem=4G,node=1
8|8|c|acct|v|RUNNING|2026-10-24T00:00:00|2026-10-25T02:30:00|Unknown|cpu=8,mem=62.50G
9|9|c|b|u|PENDING|2026-10-01T00:00:00|Unknown|Unknown|
10_[1-3]|10|c|b|u|PENDING|2026-10-01T00:00:00|None|None|cpu=1
11_2|11|c|b|w|COMPLETED|2026-10-01T00:00:00|2026-10-02T00:00:00|2026-10-03T00:00:00|cpu=4,mem=2252800K
";

const PBS: &str = "\
04/01/2026 10:00:00;Q;100.srv;queue=workq
04/01/2026 10:00:00;S;100[1].srv;user=a account=p start=1775037600 Resource_List.ncpus=2
04/01/2026 11:00:00;E;100[1].srv;user=a account=p start=1775037600 end=1775041200 Resource_List.ncpus=2 Resource_List.mem=4gb
04/01/2026 11:00:01;E;100[].srv;user=a account=p start=1775037600 end=1775041201
04/01/2026 11:00:02;D;101.srv;requestor=a@h
04/01/2026 11:00:03;E;102.srv;user=a account=\"SCSG 01\" start=1775037600 end=1775041200 Resource_List.nodes=2:ppn=4:gpus=1+node017:ppn=2 exec_host=c1/0-3+c2/0*13
04/01/2026 11:00:04;R;103.srv;user=a account=p start=1775037600 end=1775041200 Resource_List.ngpus=1 Resource_List.nodect=2
";

/// Grid Engine: the `#` banner, a Son of Grid Engine line, its per-task record, a job that
/// never started and a Univa line in milliseconds with 74 fields (fixtures/real).
const SGE: &str = "\
# Version: 8.1.9
member.q:cin-id3:group4:owner09:sleep.sh:1:sge:0:1502823561:1502823576:1502823614:100:137:38:0.076421:0.145688:5552:0:0:0:0:27515:1:0:256:24:0:0:0:276:68:project4:defaultdepartment:NONE:1:100:0.222109:0.000008:0.002004:NONE:0:NONE:2306048:0:0
long.q:cc-id2:group4:owner09:mpi.sh:2:sge:19:1502823623:1502823636:1502823936:0:0:300:0.072634:0.203422:8144:0:0:0:0:28924:17:0:3696:56:0:0:0:548:72:project4:defaultdepartment:mpi:24:0:0.276056:0.000015:0.002006:-pe mpi 24:0:1.cc-id2:2310144:0:0
long.q:cc-id2:group4:owner09:mpi.sh:2:sge:19:1502823623:1502823636:1502823936:0:0:300:0.072634:0.203422:8144:0:0:0:0:28924:17:0:3696:56:0:0:0:548:72:project4:defaultdepartment:mpi:24:0:0.276056:0.000015:0.002006:-pe mpi 24:0:NONE:2310144:0:0
long.q:cc-id4:group1:owner02:x.sh:3:sge:0:0:0:0:1:0:0:0:0:0:0:0:0:0:0:0:0:0:0:0:0:0:0:0:NONE:defaultdepartment:NONE:1:0:0:0:0:NONE:0:NONE:0:0:0
gpu_queue:gpuhost:gpugroup:gpuowner:gpujob:4437956:sge:0:1652111621288:1652111622875:1652124460193:0:0:12837.318:198688.218:102.134:648376:0:0:0:0:3023988:0:0:0:8:0:0:0:656204:268918:NONE:department:threads:16:0:198790.352:1680849.506333:0.490467:-u gpuuser,department -q gpu_queue -l gpu=1,m_mem_free=1.000G -pe threads 16:0.000000:NONE:9323855872:0:0:NONE:NONE:668106752:638583808:dev1:REDACTED:qsub script.sh:12838.830000:954601:NONE:1,REDACTED:REDACTED:NONE:REDACTED:0:0:0.000000:0.000000:0.000000:NONE:0:0:NONE:gpu=1,m_mem_free=1G:NONE:gpu_queue:NONE:REDACTED:REDACTED
";

/// LSF: a JOB_FINISH with a `16*host` list and doubled quotes, one killed while pending, a
/// JOB_RESIZE (xdmod-lsf, shortened).
const LSF: &str = "\
\"JOB_FINISH\" \"9.11\" 1389683139 404717 22025 33882739 128 1389642318 0 0 1389642771 \"anonuser\" \"regular\" \"span[ptile=16]\" \"\" \"\" \"hostlogin4-ib\" \"/scratch\" \"\" \"%J.out\" \"%J.err\" \"1389642318.404717\" 0 2 \"16*host1201-ib\" \"16*host1234-ib\" 64 60.0 \"aàb\" \"#BSUB -R \"\"span[ptile=16]\"\";date\" 5793844.230000 679.060000 966960 0 -1 0 0 3026323 0 0 0 0 -1 0 0 0 12529329 6498459 -1 \"\" \"anonproject\" 0 128 \"\" \"\" 0 10725376 0 \"\" \"\" \"\" \"\" 0 \"\" 0 \"\"
\"JOB_FINISH\" \"9.11\" 1389683139 404718 22025 33882739 4 1389642318 0 0 0 \"anonuser\" \"regular\" \"\" \"\" \"\" \"h\" \"/s\" \"\" \"o\" \"e\" \"j\" 0 0 32 60.0 \"j\" \"c\" 0 0 0 0 -1 0 0 0 0 0 0 0 -1 0 0 0 0 0 -1 \"\" \"p\" 0 4 \"\" \"\" 3
\"JOB_RESIZE\" \"9.11\" 1389683139 404717 22025
";

/// Interval rows in the fuzz targets' columns (selector 2: strftime times, no dedup key).
const CSV_INTERVAL: &str = "\
Id,Project,User,Begin,Finish,Cores,Memory
1,alpha,alice,2026-10-31 23:00:00,2026-11-01 01:00:00,4,8G
2,\"beta, the second\",bob,2026-11-02 10:00:00,2026-11-02 10:30:00,2,
3,alpha,\"say \"\"hi\"\"\",2026-11-03 00:00:00,2026-11-03 03:00:00,1,1024
4,gamma,carl,2026-11-04 00:00:00,2026-11-04 01:00:00,16,64G
";

/// What can happen to a file between the scheduler and tally.
#[derive(Clone, Debug)]
enum Damage {
    /// One byte replaced by another.
    Flip { at: usize, byte: u8 },
    /// A line cut short (a truncated copy, a full disk).
    Truncate { at: usize },
    /// A `"` inserted.
    Quote { at: usize },
    /// An empty line inserted.
    EmptyLine { at: usize },
    /// A line removed.
    Drop { at: usize },
}

fn damage() -> impl Strategy<Value = Damage> {
    prop_oneof![
        (any::<usize>(), any::<u8>()).prop_map(|(at, byte)| Damage::Flip { at, byte }),
        any::<usize>().prop_map(|at| Damage::Truncate { at }),
        any::<usize>().prop_map(|at| Damage::Quote { at }),
        any::<usize>().prop_map(|at| Damage::EmptyLine { at }),
        any::<usize>().prop_map(|at| Damage::Drop { at }),
    ]
}

fn apply(text: &str, damages: &[Damage]) -> Vec<u8> {
    let mut bytes = text.as_bytes().to_vec();
    for d in damages {
        if bytes.is_empty() {
            break;
        }
        match *d {
            Damage::Flip { at, byte } => {
                let i = at % bytes.len();
                bytes[i] = byte;
            }
            Damage::Truncate { at } => {
                // Cut from a point to the end of its line.
                let i = at % bytes.len();
                let end = bytes[i..]
                    .iter()
                    .position(|&b| b == b'\n')
                    .map_or(bytes.len(), |p| i + p);
                bytes.drain(i..end);
            }
            Damage::Quote { at } => {
                let i = at % (bytes.len() + 1);
                bytes.insert(i, b'"');
            }
            Damage::EmptyLine { at } => {
                let i = at % (bytes.len() + 1);
                bytes.insert(i, b'\n');
            }
            Damage::Drop { at } => {
                let starts: Vec<usize> = std::iter::once(0)
                    .chain(
                        bytes
                            .iter()
                            .enumerate()
                            .filter(|(_, &b)| b == b'\n')
                            .map(|(i, _)| i + 1),
                    )
                    .filter(|&i| i < bytes.len())
                    .collect();
                let s = starts[at % starts.len()];
                let e = bytes[s..]
                    .iter()
                    .position(|&b| b == b'\n')
                    .map_or(bytes.len(), |p| s + p + 1);
                bytes.drain(s..e);
            }
        }
    }
    bytes
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 600, failure_persistence: None, ..ProptestConfig::default() })]

    #[test]
    fn sacct_accounts_for_every_damaged_line(damages in prop::collection::vec(damage(), 0..12)) {
        let input = apply(SACCT, &damages);
        let stats = fuzzing::sacct(&input).map_err(|v| TestCaseError::fail(v.to_string()))?;
        // Only a damaged header (columns missing) stops the file, as documented (exit 2).
        let header = SACCT.lines().next().unwrap().as_bytes();
        let first_line = input.split(|&b| b == b'\n').next().unwrap_or_default();
        prop_assert!(stats.is_some() || first_line != header);
    }

    #[test]
    fn pbs_accounts_for_every_damaged_line(damages in prop::collection::vec(damage(), 0..12)) {
        let input = apply(PBS, &damages);
        let stats = fuzzing::pbs(&input).map_err(|v| TestCaseError::fail(v.to_string()))?;
        prop_assert!(stats.is_some());
    }

    #[test]
    fn sge_accounts_for_every_damaged_line(damages in prop::collection::vec(damage(), 0..12)) {
        let input = apply(SGE, &damages);
        let stats = fuzzing::sge(&input).map_err(|v| TestCaseError::fail(v.to_string()))?;
        let stats = stats.expect("an accounting file is never refused as a whole");
        prop_assert_eq!(stats.lines, fuzzing::non_blank_lines(&input));
    }

    #[test]
    fn lsf_accounts_for_every_damaged_line(damages in prop::collection::vec(damage(), 0..12)) {
        let input = apply(LSF, &damages);
        let stats = fuzzing::lsf(&input).map_err(|v| TestCaseError::fail(v.to_string()))?;
        let stats = stats.expect("an lsb.acct file is never refused as a whole");
        prop_assert_eq!(stats.lines, fuzzing::non_blank_lines(&input));
    }

    #[test]
    fn csv_accounts_for_every_damaged_line(damages in prop::collection::vec(damage(), 0..12), selector in 0u8..16) {
        let mut input = vec![2u8 | (selector & 8)];
        let text = if selector & 8 == 0 { CSV_INTERVAL.to_string() } else { CSV_INTERVAL.replace(',', ";") };
        input.extend(apply(&text, &damages));
        fuzzing::csv(&input).map_err(|v| TestCaseError::fail(v.to_string()))?;
    }

    /// A stray `"` at the start of one field costs that line only: every other line is
    /// still billed, and the invalid one is reported under its physical line number.
    #[test]
    fn a_stray_csv_quote_costs_exactly_its_line(line in 1usize..5, field in 0usize..7, blank_after in 0usize..5) {
        let mut lines: Vec<String> = CSV_INTERVAL.lines().map(String::from).collect();
        // No other quotes in the file: the stray one can only be closed by the end.
        lines[2] = "2,beta,bob,2026-11-02 10:00:00,2026-11-02 10:30:00,2,".into();
        lines[3] = "3,alpha,x,2026-11-03 00:00:00,2026-11-03 03:00:00,1,1024".into();
        let mut fields: Vec<String> = lines[line].split(',').map(String::from).collect();
        fields[field].insert(0, '"');
        lines[line] = fields.join(",");
        // Blank lines move physical line numbers.
        lines.insert(blank_after.min(lines.len()), String::new());
        let text = lines.join("\n") + "\n";
        let physical = text.lines().position(|l| l.contains('"')).unwrap() as u64 + 1;
        let opts = fuzzing::csv_options(2);
        let mut sink = CheckingSink::new(&fuzzing::CSV_TRES, text.as_bytes());
        let stats = tally_sources::csv::read(text.as_bytes(), Path::new("f"), 0, &opts, &mut sink);
        if blank_after == 0 && line == 0 {
            return Ok(());
        }
        let stats = stats.unwrap();
        fuzzing::check_stats(&stats, &sink).map_err(|v| TestCaseError::fail(v.to_string()))?;
        prop_assert_eq!(stats.invalid, 1);
        prop_assert_eq!(stats.jobs, 3);
        let mut collect = Collect {
            wanted: fuzzing::CSV_TRES.map(String::from).to_vec(),
            ..Collect::default()
        };
        tally_sources::csv::read(text.as_bytes(), Path::new("f"), 0, &opts, &mut collect).unwrap();
        prop_assert_eq!(collect.invalid_lines, vec![physical]);
    }
}

#[derive(Default)]
struct Collect {
    wanted: Vec<String>,
    invalid_lines: Vec<u64>,
}

impl tally_sources::RecordSink for Collect {
    fn wanted_tres(&self) -> &[String] {
        &self.wanted
    }
    fn record(&mut self, _: &tally_sources::JobRecord<'_>) {}
    fn amount(&mut self, _: &tally_sources::AmountRecord<'_>) {}
    fn invalid(&mut self, i: tally_sources::InvalidRecord) {
        self.invalid_lines.push(i.line);
    }
}

/// The undamaged samples read as intended, so the properties above start from real records.
#[test]
fn the_grid_engine_and_lsf_samples_read_cleanly() {
    let sge = fuzzing::sge(SGE.as_bytes()).unwrap().unwrap();
    assert_eq!(
        (
            sge.lines,
            sge.headers,
            sge.jobs,
            sge.steps,
            sge.not_started,
            sge.invalid
        ),
        (6, 1, 3, 1, 1, 0)
    );
    let lsf = fuzzing::lsf(LSF.as_bytes()).unwrap().unwrap();
    assert_eq!(
        (lsf.lines, lsf.jobs, lsf.not_started, lsf.other, lsf.invalid),
        (3, 1, 1, 1, 0)
    );
}
