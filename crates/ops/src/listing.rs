//! Lists: every page by default, because a provider who approves "all pending orders" must not
//! silently miss the ones on page 2; one page when asked.

use tally_waldur::{ListRequest, WaldurClient};

/// Items of a list request and where they sit in the whole listing.
#[derive(Debug)]
pub struct Listing<T> {
    pub items: Vec<T>,
    /// `X-Result-Count`: items over all pages, when known.
    pub total: Option<u64>,
    /// The page fetched, `None` when every page was fetched.
    pub page: Option<u32>,
    pub has_next: bool,
}

impl<T> Listing<T> {
    pub fn all(items: Vec<T>) -> Self {
        Listing {
            total: Some(items.len() as u64),
            page: None,
            has_next: false,
            items,
        }
    }
}

/// Every item of `req`, or only page `page` (1-based) when given; `page_size` applies to the
/// single page (the client's own page size applies to a full listing).
pub async fn fetch<R: ListRequest>(
    client: &WaldurClient,
    req: &R,
    page: Option<u32>,
    page_size: Option<u32>,
) -> Result<Listing<R::Item>, tally_waldur::Error> {
    match page {
        None => Ok(Listing::all(client.list(req).await?)),
        Some(page) => {
            let p = client.page(req, page, page_size).await?;
            Ok(Listing {
                total: p.total,
                page: Some(page),
                has_next: p.has_next,
                items: p.items,
            })
        }
    }
}
